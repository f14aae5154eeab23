"""The calls that change the mesh, and the one rule they follow in the Python API.

Rule: every call that changes the mesh (``register``, ``deregister``, ``heartbeat``,
``set_status``) acts at once — the local write is done, or the request is on its way to the
agent's owner, before the call returns — and returns an :class:`Outcome`, which is awaited for
the final answer (the owner's, for a forwarded call). Reads are plain calls. So a forgotten
``await`` no longer loses a heartbeat: it loses only the answer, and says so with a
``DeprecationWarning`` (as does code that still uses ``register``'s or ``set_status``'s result
as the plain value they returned before this rule; that keeps working for a release). Enums and
their string values are accepted alike (``"degraded"`` as ``AgentStatus.DEGRADED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar

from gossipreg.core.directory.directory import Pending
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import AgentExistsError, NodeStateError
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    RegistryEventType,
    status_of,
)
from gossipreg.io.reads import RunnerParts

__all__ = ["MeshWrites", "Outcome"]

T = TypeVar("T")
_REGISTERED = RegistryEventType.AGENT_REGISTERED


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
