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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import NodeStateError
from gossipreg.core.node import Node
from gossipreg.core.types import RegistryEvent, RegistryEventType, event_type_of
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.keyring import Keyring
from gossipreg.io.checks import CheckRunner
from gossipreg.io.credentials.identity import KeyCalls, NodeIdentity
from gossipreg.io.event_ring import EventRing, Waiters
from gossipreg.io.event_stream import EventStream, Subscriptions, call_listeners, reset_event
from gossipreg.io.joining import TOLD_SENDER, JoinWatch, join_wait
from gossipreg.io.mesh_log import MeshLog
from gossipreg.io.net.advertise import advertise_for
from gossipreg.io.net.transport import PacketRefused, Transport
from gossipreg.io.reads import NodeReads
from gossipreg.io.searching import NodeSearch, SearchCalls
from gossipreg.io.writes import MeshWrites, Outcome

if TYPE_CHECKING:  # the embedders' package with an embedder only, persist with a data dir
    from gossipreg.io.embed.protocol import Embedder
    from gossipreg.io.persist import AgentStore, Saved

__all__ = ["EventStream", "NodeRunner", "Outcome"]

log = logging.getLogger("gossipreg.io.runner")


class NodeRunner(SearchCalls, NodeReads, MeshWrites, KeyCalls):
    """A running gossip node over ``transport`` (``async with NodeRunner(...) as node:``, or
    :meth:`start` then :meth:`shutdown`); a shut-down node does not start again. The calls that
    change the mesh follow :mod:`gossipreg.io.writes`' rule (act at once, await the answer);
    searches (:class:`~gossipreg.io.searching.SearchCalls`) use ``embedder``, else
    ``config.embedder``. With ``identity`` (its key file) it signs what it writes and checks
    what others sign; with ``publishers`` it verifies signed agent cards (``card_verified``)."""

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
        embedder: Embedder | None = None,
        identity: NodeIdentity | None = None,
        publishers: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name or f"node-{secrets.token_hex(4)}"
        self.identity = identity
        self.publishers = publishers  # the card judge (credentials.publishers.PublisherKeys)
        self.config = config or NodeConfig.lan()
        self.transport = transport
        # Over HTTP, seeds are host:port (names resolve at each attempt); in memory, node names.
        self.seeds = transport.check_seeds(seeds)
        self._keyring = keyring
        self._generation = generation if generation is not None else int(time.time() * 1000)
        self._rng = rng or random.Random(secrets.randbits(64))
        # Every start is a new event stream; the ring replays its recent events.
        self._ring = EventRing(secrets.token_hex(6), self.config.event_ring_size)
        self._waiters = Waiters()
        self._core: Node | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._futures: dict[int, asyncio.Future[bool]] = {}
        self.init_pending()
        self._streams = Subscriptions()
        self._listeners: list[Callable[[RegistryEvent], Any]] = []
        self._takes: dict[Callable[[RegistryEvent], Any],
                          Callable[[RegistryEventType], bool] | None] = {}
        self._waits: dict[Callable[[RegistryEvent], Any], Callable[[RegistryEventType], bool]] = {}
        self._callbacks: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started_at = 0.0
        self._join_told = False
        self._closed = False
        self._guard: asyncio.Task[None] | None = None
        self.join_watch = JoinWatch(self)
        self.mesh_log = MeshLog()  # operator lines: members joined, suspected, failed, left
        self.checks = CheckRunner(self)  # health checks of agents registered over HTTP
        self.store: AgentStore | None = None  # agents.json, with a data directory
        self.searching = NodeSearch(self.name, self.config.embedder, embedder)  # or ConfigError

    # -------------------------------------------------------------- lifecycle
    @property
    def core(self) -> Node:
        """The core, pending registrations applied (every use of it comes here)."""
        if self._pending:
            self.apply_pending()
        if self._core is None:
            raise NodeStateError("the node is not started")
        return self._core

    @property
    def started_core(self) -> Node | None:
        """The core once started (None before ``start``), pending registrations applied."""
        return self.core if self._core is not None else None

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
        saved: list[Saved] = []
        if self.config.data_dir is not None:  # a bad file refuses the start, before binding
            from gossipreg.io.persist import AgentStore

            self.store, saved = AgentStore.open(self)
        addr = await self.transport.start(self._on_packet)
        self.transport.on_unreachable = self._on_unreachable
        if is_unspecified(addr):  # bound to every interface: advertise a routable address
            addr = await advertise_for(self.transport, self.seeds)
        now = self._loop.time()
        ident = self.identity
        self._core = Node(self.name, addr, self.config, rng=self._rng, now=now,
                          generation=self._generation, keyring=self._keyring,
                          stream_id=self._ring.stream_id, features=self.transport.features,
                          identity=None if ident is None else ident.load(),
                          pins=None if ident is None else ident.load_pins(),
                          cards=self.publishers)
        self.transport.peer_features = self._core.read.features_at
        self.started_at = time.time()
        if self.store is not None:  # the agents it kept, before it joins (see persist)
            self.store.restore(saved, now)  # seeds not set yet: no single writes go out
            self.add_listener(self.store.on_event)
            self.checks.on_change = self.store.changed
        self._core.join(self.seeds, now)
        self._pump()
        if self.store is not None:
            self.store.start_checks(saved)
        self.join_watch.start()
        self._guard = self._loop.create_task(self._close_with_the_loop())
        self.searching.start(self._core, self._now, self._pump)
        log.info("node %s listening on %s", self.name, addr)
        return self

    async def _close_with_the_loop(self) -> None:
        """Shut down when the loop's end cancels this task (``asyncio.run`` after an error
        that skipped :meth:`shutdown`), so no session or socket is left unclosed."""
        try:
            await asyncio.Event().wait()
        finally:
            self._guard = None
            await self.shutdown()

    async def __aenter__(self) -> NodeRunner:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Leaving the block is a graceful leave: peers see MEMBER_LEFT (not a failure), and
        this node's agents leave with it at once."""
        try:
            await self.leave()
        finally:
            await self.shutdown()

    async def leave(self, propagate: float | None = None) -> None:
        """Announce a graceful leave and give it ``propagate`` seconds (default: three gossip
        intervals) to spread before the caller shuts down."""
        if self._core is None or self.core.left:
            return
        has_peers = self._core.read.has_live_peers()
        self._core.leave(self._now())
        self._pump()
        if has_peers:
            await asyncio.sleep(propagate if propagate is not None
                                else 3 * self.config.gossip_interval)

    async def shutdown(self) -> None:
        """Stop timers and close the transport (no leave: use :meth:`leave` first for that, or
        leave an ``async with`` block, which does both)."""
        if self._closed:
            return
        self.apply_pending()  # a registration accepted is not lost by a shutdown
        self._closed = True
        if self._core is not None:
            self.save_pins()
        guard, self._guard = self._guard, None
        if guard is not None and guard is not asyncio.current_task():
            guard.cancel()
        if self._timer is not None:
            self._timer.cancel()
        for fut in self._futures.values():
            if not fut.done():
                fut.set_result(False)
        for s in list(self._streams):
            s.close()
        await self.checks.close()
        if self.store is not None:
            await self.store.close()
        await self.join_watch.stop()
        await self.searching.stop()
        await self.transport.close()

    async def wait_joined(self, timeout: float | None = None) -> bool:
        """Wait until a seed answered (True), or ``timeout`` seconds passed (default: 5, or
        three join attempts when they are further apart) or every seed refused us (False;
        ``join_watch.describe()`` says why). The node keeps trying to join either way."""
        limit = join_wait(self.config) if timeout is None else timeout
        watch = self.join_watch
        return await self.wait_for(lambda: self.core.joined or watch.refusal() is not None,
                                   limit) and self.core.joined

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
        if self._core is None or self._closed:
            return None
        got = self.core.handle_packet(payload, self._now(), src, wall=time.time())
        if got.drop in TOLD_SENDER:
            raise PacketRefused(got.drop)
        return self._pump(reply_to=got.reply_to)

    def _on_unreachable(self, dest: str) -> None:  # a hint for the core's failure detector
        if self._core is not None and not self._closed:
            self.core.handle_unreachable(dest, self._now())
            self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = None
        if self._core is None or self._closed:
            return
        self.core.handle_timeout(self._now(), wall=time.time())
        self._pump()
        if self.identity is not None:
            self.save_pins()

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
        if not self._join_told and self.seeds:  # said once, when the join was answered
            self._join_told = core.joined
            self.mesh_log.joined(self._join_told, core.read.stats)
        if events := core.events.poll_queue:  # the core's queue, drained in order
            ring, log_event, listeners = self._ring, self.mesh_log.event, self._listeners
            seq = ring.seq
            while events:
                ev = events.popleft()
                log_event(ev)
                ring.add(ev)
                if self._streams:
                    for s in list(self._streams):
                        s.deliver(ev)
                if listeners:
                    call_listeners(listeners, ev, self._callbacks)
            if ring.seq != seq and self._waiters:
                self._waiters.wake()
        while (r := core.poll_result()) is not None:
            fut = self._futures.pop(r.req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(r.ok)
        if self.searching.worker is not None:
            self.searching.worker.poke()
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
    def ring(self) -> EventRing:
        """This node's recent events (``seq``, ``position``, replay), pending ones included."""
        if self._pending:
            self.apply_pending()
        return self._ring

    @property
    def stream_drops(self) -> int:
        """Events dropped by the full buffers of this node's subscriptions (closed ones too)."""
        return self._streams.dropped

    @property
    def subscriptions(self) -> Subscriptions:
        """The open subscriptions (read their count, ``depth`` and ``dropped``)."""
        return self._streams

    def subscribe(self, types: Sequence[RegistryEventType | str] | None = None,
                  maxsize: int = 1000, since: str | None = None) -> EventStream:
        """A bounded stream of this node's events (optionally only ``types``): from now on,
        or after the event id ``since`` (every later event exactly once, replayed from the
        ring; a ``STREAM_RESET`` first when that position is unknown, from another stream or
        no longer held: the consumer must list again)."""
        kinds = None if types is None else frozenset(
            event_type_of(t) for t in ([types] if isinstance(types, str) else types))
        s = EventStream(self.ring, self._streams.closed, maxsize, kinds)
        self.ring.watched = True  # its events carry ids a consumer may resume from
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

    @property
    def waiting_queries(self) -> int:
        """Blocking queries parked until this node numbers its next event."""
        return len(self._waiters)

    async def wait_index(self, index: int, timeout: float) -> None:
        """Return once this node numbered an event after ``index`` (at once if it already
        has, or if ``index`` is ahead of it: another stream), or after ``timeout`` s."""
        if self.ring.seq == index and not self._closed:
            assert self._loop is not None
            await self._waiters.park(self._loop, timeout)
