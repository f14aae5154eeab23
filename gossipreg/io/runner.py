"""``NodeRunner``: one core node driven by asyncio over a transport it is given.

It knows no HTTP: ``gossipreg.io.gossip_node.GossipNode`` composes the default transport and
the HTTP API around it, and a host with other needs composes its own (``transport=``, then
``gossipreg.io.api.routes.serve_http``). This is the only place that reads the clock. The loop
shape is the simulator's: after every input (a packet, a timer, a call) flush transmits to the
transport, fan events out to subscribers, settle forwarded requests, and re-arm one timer at
the core's next deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.directory import Pending
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import NodeStateError
from gossipreg.core.node import Node
from gossipreg.core.reader import Reader
from gossipreg.core.search.query import Query
from gossipreg.core.search.rank import SearchHit
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberInfo,
    RegistryEvent,
    RegistryEventType,
)
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.keyring import Keyring
from gossipreg.io.advertise import advertise_for
from gossipreg.io.event_ring import EventRing
from gossipreg.io.event_stream import EventStream, call_listeners, reset_event
from gossipreg.io.joining import TOLD_SENDER, JoinWatch
from gossipreg.io.transport import PacketRefused, Transport

__all__ = ["EventStream", "NodeRunner"]

log = logging.getLogger("gossipreg.io.runner")


class NodeRunner:
    """A running gossip node over ``transport`` (``async with NodeRunner(...) as node:``, or
    :meth:`start` then :meth:`shutdown`); a shut-down node does not start again."""

    def __init__(
        self,
        name: str | None = None,
        *,
        transport: Transport,
        seeds: Sequence[str] = (),
        config: NodeConfig | None = None,
        keyring: Keyring | None = None,
        generation: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name or f"node-{secrets.token_hex(4)}"
        self.config = config or NodeConfig.lan()
        self.transport = transport
        # Over HTTP, seeds are host:port (names resolve at each attempt); in memory, node names.
        self.seeds = transport.check_seeds(seeds)
        self._keyring = keyring
        self._generation = generation if generation is not None else int(time.time() * 1000)
        self._rng = rng or random.Random(secrets.randbits(64))
        # Every start is a new event stream; the ring replays its recent events.
        self.ring = EventRing(secrets.token_hex(6), self.config.event_ring_size)
        self._waiters: list[asyncio.Future[None]] = []
        self._core: Node | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._futures: dict[int, asyncio.Future[bool]] = {}
        self._streams: set[EventStream] = set()
        self._listeners: list[Callable[[RegistryEvent], Any]] = []
        self._callbacks: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at = 0.0
        self._closed = False
        self.join_watch = JoinWatch(self)

    # -------------------------------------------------------------- lifecycle
    @property
    def core(self) -> Node:
        if self._core is None:
            raise NodeStateError("the node is not started")
        return self._core

    @property
    def started_core(self) -> Node | None:
        """The core once started (None before ``start``)."""
        return self._core

    @property
    def address(self) -> str:
        return self.core.addr

    @property
    def running(self) -> bool:
        return self._core is not None and not self._closed

    @property
    def closed(self) -> bool:
        """Shut down: a closed node cannot start again (build a new one)."""
        return self._closed

    def _now(self) -> float:
        """The loop's monotonic clock (the core's ``now``; its ``wall`` is ``time.time()``)."""
        assert self._loop is not None
        return self._loop.time()

    async def start(self) -> NodeRunner:
        """Bind, start the protocol, and begin joining the seeds (retried in the background)."""
        if self._closed:
            raise NodeStateError(f"this node was shut down; create a new {type(self).__name__}")
        if self._core is not None:
            return self
        self._loop = asyncio.get_running_loop()
        addr = await self.transport.start(self._on_packet)
        self.transport.on_unreachable = self._on_unreachable
        if is_unspecified(addr):  # bound to every interface: advertise a routable address
            addr = await advertise_for(self.transport, self.seeds)
        now = self._loop.time()
        self._core = Node(self.name, addr, self.config, rng=self._rng, now=now,
                          generation=self._generation, keyring=self._keyring,
                          stream_id=self.ring.stream_id, features=self.transport.features)
        self.transport.peer_features = self._core.read.features_at
        self.started_at = time.time()
        self._core.join(self.seeds, now)
        self._pump()
        self.join_watch.start()
        log.info("node %s listening on %s", self.name, addr)
        return self

    async def __aenter__(self) -> NodeRunner:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def leave(self, propagate: float | None = None) -> None:
        """Announce a graceful leave and give it ``propagate`` seconds (default: three gossip
        intervals) to spread before the caller shuts down."""
        if self._core is None or self._core.left:
            return
        has_peers = self._core.read.has_live_peers()
        self._core.leave(self._now())
        self._pump()
        if has_peers:
            await asyncio.sleep(propagate if propagate is not None
                                else 3 * self.config.gossip_interval)

    async def shutdown(self) -> None:
        """Stop timers and close the transport (no leave: use :meth:`leave` first for that)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for fut in self._futures.values():
            if not fut.done():
                fut.set_result(False)
        for s in list(self._streams):
            s.close()
        await self.join_watch.stop()
        await self.transport.close()

    async def wait_joined(self, timeout: float) -> bool:
        """Wait until a seed answered (True) or ``timeout`` passed (False)."""
        return await self.wait_for(lambda: self.core.joined, timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float,
                       interval: float = 0.02) -> bool:
        """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)
        return True

    # ------------------------------------------------------------------ pump
    def _on_packet(self, payload: bytes, src: str | None = None) -> bytes | None:
        """Handle a frame; the first frame for its sender is returned to ride back in the
        transport's response. A frame the codec refused (wrong key, cluster or version) raises
        PacketRefused, so that the sender learns why its join goes unanswered."""
        core = self._core
        if core is None or self._closed:
            return None
        got = core.handle_packet(payload, self._now(), src, wall=time.time())
        if got.drop in TOLD_SENDER:
            raise PacketRefused(got.drop)
        return self._pump(reply_to=got.reply_to)

    def _on_unreachable(self, dest: str) -> None:  # a hint for the core's failure detector
        if self._core is not None and not self._closed:
            self._core.handle_unreachable(dest, self._now())
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = None
        if self._core is None or self._closed:
            return
        self._core.handle_timeout(self._now(), wall=time.time())
        self._pump()

    def _pump(self, reply_to: str | None = None) -> bytes | None:
        core = self._core
        if core is None or self._closed:
            return None
        reply: bytes | None = None
        send = self.transport.send
        while (tx := core.poll_transmit()) is not None:
            if reply is None and tx.dest == reply_to and not tx.stream:
                reply = tx.payload
            elif tx.stream:
                self.transport.send_stream(tx.dest, tx.payload)
            else:
                send(tx.dest, tx.payload)
        seq = self.ring.seq
        while (ev := core.poll_event()) is not None:
            self.ring.add(ev)
            for s in list(self._streams):
                s.deliver(ev)
            if self._listeners:
                call_listeners(self._listeners, ev, self._callbacks)
        if self.ring.seq != seq and self._waiters:
            waiters, self._waiters = self._waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        while (r := core.poll_result()) is not None:
            fut = self._futures.pop(r.req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(r.ok)
        t = core.poll_timeout()
        if t != self._armed:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._armed = t
            if t is not None:
                assert self._loop is not None
                self._timer = self._loop.call_at(t, self._on_timer)
        return reply

    # ---------------------------------------------------------------- events
    @property
    def stream_drops(self) -> int:
        """Events dropped by the full buffers of this node's open subscriptions."""
        return sum(s.dropped for s in self._streams)

    def subscribe(self, types: Sequence[RegistryEventType] | None = None,
                  maxsize: int = 1000, since: str | None = None) -> EventStream:
        """A bounded stream of this node's events (optionally only ``types``): from now on,
        or after the event id ``since`` (every later event exactly once, replayed from the
        ring; a ``STREAM_RESET`` first when that position is unknown, from another stream or
        no longer held: the consumer must list again)."""
        s = EventStream(self.ring, self._streams.discard, maxsize,
                        frozenset(types) if types is not None else None)
        if since is not None:
            missed = self.ring.since(since)
            if missed is None:
                s.deliver(reset_event(self.ring, self.ring.why_not(since)))
            else:
                for ev in missed:
                    s.deliver(ev)
        self._streams.add(s)
        return s

    @property
    def position(self) -> str:
        """The id of this node's newest event: list, then subscribe ``since`` it."""
        return self.ring.position

    async def wait_index(self, index: int, timeout: float) -> None:
        """Return once this node numbered an event after ``index`` (at once if it already
        has, or if ``index`` is ahead of it: another stream), or after ``timeout`` s."""
        if self.ring.seq != index or self._closed:
            return
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(fut)
        await asyncio.wait([fut], timeout=timeout)
        if not fut.done():
            fut.cancel()
            self._waiters.remove(fut)

    def add_listener(self, callback: Callable[[RegistryEvent], Any]) -> None:
        """Call ``callback(event)`` for every event (sync, or async: then it is scheduled)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[RegistryEvent], Any]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # ---------------------------------------------------------------- writes
    def register(self, record: AgentRecord | None = None, **fields: Any) -> AgentView:
        """Register an agent hosted by this node: pass an :class:`AgentRecord`, or its fields
        (``agent_id``, ``name``, ``runtime_id``, ``capabilities``, ``description``, ``tags``,
        ``card``, ...) which are validated."""
        if record is None:
            record = make_record(
                fields.pop("agent_id"), fields.pop("name", ""),
                fields.pop("runtime_id", self.name), fields.pop("capabilities", None), **fields)
        view = self.core.register(record, self._now(), wall=time.time())
        self._pump()
        return view

    async def _settle(self, out: bool | Pending) -> bool:
        self._pump()
        if not isinstance(out, Pending):
            return out
        assert self._loop is not None
        fut: asyncio.Future[bool] = self._loop.create_future()
        self._futures[out.req_id] = fut
        return await fut

    async def deregister(self, agent_id: str) -> bool:
        """Deregister an agent anywhere in the mesh (forwarded to its owner)."""
        return await self._settle(self.core.deregister(agent_id, self._now(), wall=time.time()))

    async def heartbeat(self, agent_id: str) -> bool:
        """Record a heartbeat for an agent anywhere in the mesh (forwarded to its owner)."""
        return await self._settle(self.core.heartbeat(agent_id, self._now(), wall=time.time()))

    def set_status(self, agent_id: str, status: AgentStatus, reason: str = "manual", *,
                   check: bool = False) -> bool:
        """Write a status about any visible agent; its event carries ``reason`` (``check``:
        see :meth:`gossipreg.core.node.Node.set_status`)."""
        ok = self.core.set_status(agent_id, status, self._now(), reason, check=check,
                                  wall=time.time())
        self._pump()
        return ok

    # --------------------------------------------------------------- queries
    @property
    def read(self) -> Reader:
        """The core's read surface (visible agents, members, stats): local, no network."""
        return self.core.read

    def get(self, agent_id: str) -> AgentView | None:
        return self.core.read.get(agent_id)

    def find(self, capability: Query | str | Sequence[str] = "", *,
             status: AgentStatus | None = AgentStatus.ACTIVE, runtime_id: str | None = None,
             tags: Sequence[str] = (), node_id: str | None = None, limit: int | None = None,
             offset: int = 0) -> list[AgentView]:
        """Agents whose capabilities contain every term (case-insensitive), ranked; pass a
        :class:`~gossipreg.core.search.query.Query` or its fields (see there for the semantics)."""
        q = capability if isinstance(capability, Query) else Query.of(
            capability, status=status, runtime_id=runtime_id, tags=tags, node_id=node_id,
            limit=limit, offset=offset)
        return self.core.read.find(q)

    def search(self, text: str, filters: Mapping[str, Any] | None = None,
               limit: int | None = 10, offset: int = 0) -> list[SearchHit]:
        """Agents ranked for free ``text`` with scores in [0, 1), answered locally. ``filters``
        is ARD's query model: ``{"tags": ["finance"], "runtime": "rt-1", "status": [...]}``
        (OR within a key, AND across keys; ACTIVE only unless ``status`` is given)."""
        return self.core.read.search(text, filters, limit, offset)

    def list_agents(self, runtime_id: str | None = None,
                    status: AgentStatus | None = None) -> list[AgentView]:
        """Every visible agent (those without capabilities too), by registration order."""
        return self.core.read.list_agents(Query(status=status, runtime_id=runtime_id))

    def members(self) -> list[MemberInfo]:
        return self.core.read.members()

    # ------------------------------------------------------------------ keys
    @property
    def keyring(self) -> Keyring | None:
        """A copy of the node's keyring (None: frames are unsigned); change it through
        :meth:`install_key`, :meth:`use_key` and :meth:`remove_key`."""
        keys = self.core.keys
        return Keyring(keys) if keys else None

    def install_key(self, key: bytes) -> None:
        """Add a key that verifies (rotation step 1, on every node)."""
        self.core.install_key(key)

    def use_key(self, key: bytes) -> None:
        """Sign with an installed key (rotation step 2)."""
        self.core.use_key(key)

    def remove_key(self, key: bytes) -> None:
        """Stop accepting a key (rotation step 3)."""
        self.core.remove_key(key)
