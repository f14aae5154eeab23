"""The calls that change the mesh, and the one rule they follow in the Python API.

Rule: every call that changes the mesh (``register``, ``deregister``, ``heartbeat``,
``set_status``) acts at once — the local write is done, or the request is on its way to the
agent's owner, before the call returns — and returns an :class:`Outcome`, which is awaited for
the final answer (the owner's, for a forwarded call). Reads are plain calls. So a forgotten
``await`` no longer loses a heartbeat: it loses only the answer, and says so with a
``DeprecationWarning`` (as does code that still uses ``register``'s or ``set_status``'s result
as the plain value they returned before this rule; that keeps working for a release). Enums and
their string values are accepted alike (``"degraded"`` as ``AgentStatus.DEGRADED``).

One exception, for the registry facade's ``register_agent`` (kaizen's call, which must cost
about what kaizen's dict insert costs): :meth:`MeshWrites.register_soon` checks the id and
keeps the validated record in a pending table, applied as one batch before anything reads or
changes the node (the runner's ``core`` property, its packet, timer and leave handlers, its
shutdown) and at the next turn of the event loop at the latest. Only registrations whose events
nobody needs as the call is made are kept pending (the registry's ``event_queue`` takes them
with the batch: a read of it applies the batch first); anything else is applied at once, after
the pending ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar

from gossipreg.core.directory.directory import Pending
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import AgentExistsError, NodeStateError
from gossipreg.core.node import Node
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    RegistryEvent,
    RegistryEventType,
    status_of,
)
from gossipreg.io.event_ring import EventRing, Waiters
from gossipreg.io.event_stream import Subscriptions
from gossipreg.io.mesh_log import MeshLog
from gossipreg.io.reads import RunnerParts

__all__ = ["MeshWrites", "Outcome"]

log = logging.getLogger("gossipreg.io.writes")
T = TypeVar("T")
_REGISTERED = RegistryEventType.AGENT_REGISTERED


def _promote() -> None:
    """Put what the collector tracks into its oldest generation, where a batch's records
    belong (they live as long as their agents): the young collection that would follow would
    only walk them to move them along. ``gc.freeze`` then ``gc.unfreeze`` is that move (two
    list splices); skipped when the process keeps objects frozen itself (a pre-fork server):
    unfreezing them is not ours to do."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


class Outcome(Generic[T]):
    """What a mesh-changing call returns: its local part is already done. ``await`` it for
    the final answer — at once for a local write, the owner's answer for a forwarded call
    (``False`` when the owner did not answer within ``request_timeout``).

    ``local`` is the answer known when the call returned (the view registered; whether the
    write was made or the request sent). Using the outcome as that plain value (``view.agent_id``,
    ``if node.set_status(...)``) still works for a release, with a ``DeprecationWarning``; so
    does dropping it without ``await``.
    """

    __slots__ = ("_final", "_local", "_seen", "_what")

    def __init__(self, local: T, final: asyncio.Future[T] | None, what: str) -> None:
        self._local = local
        self._final = final
        self._what = what
        self._seen = False

    @property
    def local(self) -> T:
        """The answer known when the call returned (no warning: for code that cannot await)."""
        self._seen = True
        return self._local

    def done(self) -> bool:
        """Whether the final answer is known (always, unless the call was forwarded)."""
        return self._final is None or self._final.done()

    def __await__(self) -> Generator[Any, None, T]:
        self._seen = True
        if self._final is None:
            return self._local
        return (yield from self._final.__await__())

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<Outcome of {self._what}: {self._local!r}, {state}>"

    # --------------------------------------- the plain value, deprecated (one release)
    def _plain(self) -> T:
        if not self._seen:
            self._seen = True
            warnings.warn(
                f"{self._what}() returns an awaitable Outcome: `await` it (using it as its "
                f"plain value is deprecated and stops working in a later release)",
                DeprecationWarning, stacklevel=3)
        return self._local

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._plain(), name)

    def __bool__(self) -> bool:
        return bool(self._plain())

    def __eq__(self, other: object) -> bool:
        return bool(self._plain() == other)

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, index: Any) -> Any:
        plain: Any = self._plain()
        return plain[index]

    def __iter__(self) -> Iterator[Any]:
        plain: Any = self._plain()
        return iter(plain)

    def __del__(self) -> None:
        if not getattr(self, "_seen", True):
            with contextlib.suppress(Exception):  # at interpreter shutdown
                warnings.warn(
                    f"{self._what}() was not awaited: it took effect, but its answer was lost "
                    f"(not awaiting a call that changes the mesh is deprecated)",
                    DeprecationWarning, stacklevel=2)


class MeshWrites(RunnerParts):
    """The mesh-changing calls of :class:`~gossipreg.io.runner.NodeRunner` (see the module
    rule). The runner provides the core, the clock, the pump and the pending answers."""

    name: str
    _futures: dict[int, asyncio.Future[bool]]
    _loop: asyncio.AbstractEventLoop | None
    _core: Node | None
    _closed: bool
    _streams: Subscriptions
    _waiters: Waiters
    _listeners: list[Callable[[RegistryEvent], Any]]
    _takes: dict[Callable[[RegistryEvent], Any], Callable[[RegistryEventType], bool] | None]
    _waits: dict[Callable[[RegistryEvent], Any], Callable[[RegistryEventType], bool]]
    _ring: EventRing
    mesh_log: MeshLog

    def init_pending(self) -> None:
        """register_soon's table (by id, in call order), the handle of its drain at the next
        turn of the loop, the registrations the drain refused, who is told of each refusal."""
        self._pending: dict[str, AgentRecord] = {}
        self._drain: asyncio.Handle | None = None
        self.pending_refused = 0
        self.on_refused: list[Callable[[AgentRecord, Exception], None]] = []

    def takes(self, kind: RegistryEventType, at_once: bool = False) -> bool:
        """Whether anything consumes this node's events of ``kind``: a subscription, a
        position handed out (the ring then keeps events), a parked blocking query, the mesh
        log, a listener. A registration nobody takes an AGENT_REGISTERED event of makes none
        (the core then numbers nothing: the stream's ids stay without gaps). ``at_once``:
        whether anything needs them as the call is made (a listener may not: its ``waits``)."""
        if self._streams or self._ring.watched or self._waiters.parked or self.mesh_log.takes(kind):
            return True
        for cb, t in self._takes.items():  # (a loop: cheaper than any() of a generator)
            if (t is None or t(kind)) and not (
                    at_once and (w := self._waits.get(cb)) is not None and not w(kind)):
                return True
        return False

    def add_listener(self, callback: Callable[[RegistryEvent], Any],
                     takes: Callable[[RegistryEventType], bool] | None = None,
                     waits: Callable[[RegistryEventType], bool] | None = None) -> None:
        """Call ``callback(event)`` for every event (sync, or async: then it is scheduled).
        ``takes(kind)``: whether it needs events of a kind (None: all), asked at each write
        whose event the node leaves unmade when nothing takes it (see :meth:`takes`);
        ``waits(kind)``: whether it needs them as the call is made (None: yes), or takes a
        kept registration's event when its batch is applied (see :meth:`register_soon`)."""
        self.apply_pending()  # registered before it: their events are not its
        self._listeners.append(callback)
        self._takes[callback] = takes
        if waits is not None:
            self._waits[callback] = waits

    def remove_listener(self, callback: Callable[[RegistryEvent], Any]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)
            if callback not in self._listeners:
                del self._takes[callback]
                self._waits.pop(callback, None)

    def register(self, record: AgentRecord | None = None, **fields: Any) -> Outcome[AgentView]:
        """Register an agent hosted by this node: pass an :class:`AgentRecord`, or its fields
        (``agent_id``, ``name``, ``runtime_id``, ``capabilities``, ``description``, ``tags``,
        ``card``, ...) which are validated. Raises at once on a bad record or a duplicate id;
        ``await`` it for the agent's view."""
        if record is None:
            record = make_record(
                fields.pop("agent_id"), fields.pop("name", ""),
                fields.pop("runtime_id", self.name), fields.pop("capabilities", None), **fields)
        return Outcome(self.register_now(record), None, "register")

    def register_now(self, record: AgentRecord) -> AgentView:
        """:meth:`register` of a validated record, for a caller with nothing to await (the
        registry facade): the agent's view. Its AGENT_REGISTERED event is made only when
        something takes it (:meth:`~gossipreg.io.runner.NodeRunner.takes`)."""
        view = self.core.register(record, self._now(), wall=time.time(),
                                  quiet=not self.takes(_REGISTERED))
        self._pump()
        return view

    def register_soon(self, record: AgentRecord) -> None:
        """Register a validated record of an agent hosted here, applied before the next read
        of this node or the next turn of the loop (see the module docstring). Raises at once,
        as :meth:`register_now` does, for an id already visible, held here or pending
        (``AgentExistsError``) or a node not started or left (``NodeStateError``). When
        something needs its AGENT_REGISTERED event as the call is made it is
        :meth:`register_now`; a listener that does not (its ``waits``) gets the events of
        the batch, in call order, when the batch is applied."""
        core, pending = self._core, self._pending
        # Whether anything takes the events is asked once per batch: what could change the
        # answer applies the batch first (add_listener, subscribe, a position, a blocking
        # query: all through `ring`; the facade's subscribe), and the batch asks again.
        if not pending:
            if core is None or self._closed or core.left:
                self.register_now(record)  # refused there, as before
                return
            if self.takes(_REGISTERED, at_once=True):  # applied now, its event made
                core.register(record, self._now(), wall=time.time())
                self._pump()
                return
        assert core is not None  # a batch is open only on a running node (see `core`)
        aid = record.agent_id
        if aid in pending or core.read.taken(aid):
            raise AgentExistsError(f"Agent {aid} already registered")
        if not pending:
            assert self._loop is not None
            self._drain = self._loop.call_soon(self.apply_pending)
        pending[aid] = record

    def apply_pending(self) -> None:
        """Apply the registrations :meth:`register_soon` kept, in call order, as one batch
        (one clock read, one pump). None is lost: one the node refuses (its id became
        visible meanwhile: a peer's registration of it arrived first; the node left) is
        logged, counted in ``pending_refused`` and handed to each ``on_refused`` callback,
        and the others are applied."""
        pending, self._pending = self._pending, {}
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.cancel()
        core = self._core
        if not pending or core is None:
            return
        # The batch's objects live as long as the agents: a young collection of them every
        # 700 allocations would only move them along (and make full collections come sooner).
        collecting = gc.isenabled()
        gc.disable()
        try:  # quiet unless the mesh log's level changed since the batch began
            refused = core.register_many(pending, self._now(), wall=time.time(),
                                         quiet=not self.takes(_REGISTERED))
        finally:
            if collecting:
                _promote()
                gc.enable()
        self._pump()
        records = list(pending.values()) if refused else []
        for i, why in refused:
            r = records[i]
            self.pending_refused += 1
            log.warning("registration of %s refused when applied: %s", r.agent_id, why)
            for callback in self.on_refused:
                callback(r, why)

    def register_many(self, records: Sequence[AgentRecord]) -> list[AgentView | Exception]:
        """Register many validated records in one input (one clock read, one pump): per
        record in order, its view or why it was refused (``AgentExistsError`` for an id
        already visible, this batch's earlier items included; ``NodeStateError`` once left)."""
        core, now, wall = self.core, self._now(), time.time()
        quiet = not self.takes(_REGISTERED)
        out: list[AgentView | Exception] = []
        for r in records:
            try:
                out.append(core.register(r, now, wall=wall, quiet=quiet))
            except (AgentExistsError, NodeStateError) as e:
                out.append(e)
        self._pump()
        return out

    def deregister(self, agent_id: str) -> Outcome[bool]:
        """Deregister an agent anywhere in the mesh (forwarded to its owner); ``await`` it for
        whether it was deregistered."""
        return self._outcome(self.core.deregister(agent_id, self._now(), wall=time.time()),
                             "deregister")

    def heartbeat(self, agent_id: str) -> Outcome[bool]:
        """Record a heartbeat for an agent anywhere in the mesh (forwarded to its owner);
        ``await`` it for whether the owner recorded it."""
        return self._outcome(self.core.heartbeat(agent_id, self._now(), wall=time.time()),
                             "heartbeat")

    def set_status(self, agent_id: str, status: AgentStatus | str, reason: str = "manual", *,
                   check: bool = False) -> Outcome[bool]:
        """Write a status (an :class:`AgentStatus` or its value, ``"degraded"``) about any
        visible agent; its event carries ``reason`` (``check``: see
        :meth:`gossipreg.core.node.Node.set_status`). ``await`` it for the final answer."""
        out = self.core.set_status(agent_id, status_of(status), self._now(), reason,
                                   check=check, wall=time.time())
        return self._outcome(out, "set_status")

    def set_load(self, agent_id: str, active: int, cap: int) -> Outcome[bool]:
        """Publish ``active_tasks`` / ``max_concurrency`` of an agent hosted here (written when
        it matters: ``core.directory.load``); False when another node hosts it."""
        return self._outcome(self.core.set_load(agent_id, active, cap, self._now(),
                                                wall=time.time()), "set_load")

    def _outcome(self, out: bool | Pending, what: str) -> Outcome[bool]:
        """Flush what the call queued; a forwarded call's answer comes from the pump."""
        self._pump()
        if not isinstance(out, Pending):
            return Outcome(out, None, what)
        assert self._loop is not None
        fut: asyncio.Future[bool] = self._loop.create_future()
        self._futures[out.req_id] = fut
        return Outcome(True, fut, what)
