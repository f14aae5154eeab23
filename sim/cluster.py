"""In-memory cluster of core nodes on a virtual clock: the deterministic test harness.

A heap of ``(time, seq, action)`` drives every node with the same loop shape as the asyncio
runner: deliver an input (packet or timer), then flush transmits into the network, collect
events, and re-arm the node's next deadline. No sockets, no sleeps: a run is a pure function of
the seed and the calls made.

The network delays each packet by ``latency_min + exp(latency_mean - latency_min)`` one way and
honours partitions (two-way groups, one-way blocks) and clogged nodes. Its ``model`` says what
loss does. ``links`` (the default) is the transport nodes ship with (:mod:`sim.links`): nodes
announce datagrams and links, and each frame takes a datagram (lost with the loss probability),
a WebSocket link (a loss is a retransmission delay, a link's frames arrive in order) or an HTTP
POST, as ``LinkTransport`` picks. ``tcp`` is a mesh whose nodes offer no new path: HTTP on
pooled TCP connections (:mod:`sim.tcp`), a frame lost only past the client's timeout. Over links
and HTTP the first reply a node makes to a frame's sender rides back on that frame's
connection, as :class:`gossipreg.io.runner.NodeRunner` does. ``datagram`` drops each packet
with the loss probability (and may duplicate it): tests of the protocol's own repair use it. A
paused node keeps its state and its inbound packets (they wait in its socket buffer); a crashed
node loses everything; a restarted node comes back with a new generation.

A cluster can be one *shard* of a run split across processes (``local``: which nodes it runs).
The other nodes are placeholders (``remote``) that only track up/crashed/paused; packets for
them go to ``outbox`` with their delivery time, and their packets come in through ``inject``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from math import log
from typing import Any, Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.node import Node
from gossipreg.core.trust.proofs import stub_identity
from gossipreg.core.types import RegistryEvent
from gossipreg.core.wire.tags import Feature
from sim.cluster_views import ClusterViews
from sim.links import DATAGRAM, HTTP, LINK_REPLY, LinkPaths, NetOptions
from sim.tcp import TcpPaths

__all__ = ["EPOCH", "Cluster", "NetOptions", "NodeFactory", "SimNode"]

EPOCH = 1_700_000_000.0  # the wall clock at virtual time 0 (a node's skew is added to it)


class Due(IntEnum):
    """What an event of the heap is (an int, so that equal times order deterministically)."""

    TIMER = 0  # a node's deadline: data is the time it was armed for
    PACKET = 1  # a packet arrives: data is the payload (or payload, sender, reply time)
    UNREACHABLE = 2  # the transport gave up on a frame: data is its destination


class NodeFactory(Protocol):
    """How a cluster builds each node: :class:`Node` itself, or anything with its constructor
    and its contract (a mixed-version test builds some nodes of the previous release)."""

    def __call__(self, node_id: str, addr: str, config: NodeConfig, *, rng: random.Random,
                 now: float, generation: int, features: int = 0) -> Node: ...


@dataclass
class SimNode:
    name: str
    node: Node | None
    generation: int
    state: str = "up"  # up | paused | crashed
    wake: float | None = None
    events: list[RegistryEvent] = field(default_factory=list)
    inbox: list[Any] = field(default_factory=list)  # deliveries held while paused
    skew: float = 0.0
    bytes_out: int = 0
    remote: bool = False  # run by another shard: no node here
    offers: int = 0  # the paths its transport offers (Feature bits; 0: HTTP POST only)

    def wall(self, now: float) -> float:
        """This node's wall clock at virtual time ``now`` (:data:`EPOCH` plus its skew)."""
        return now + (EPOCH + self.skew)


class Cluster(ClusterViews):
    """N core nodes wired together in memory."""

    def __init__(self, seed: int = 0, config: NodeConfig | None = None,
                 net: NetOptions | None = None, keep_events: bool = True,
                 local: Callable[[str], bool] | None = None,
                 make_node: NodeFactory = Node, signing: bool = False) -> None:
        self.seed = seed
        # Nodes sign with a deterministic stub of Ed25519 (one key per name, kept across
        # restarts, as a key file is) and run every check of the real thing.
        self.signing = signing
        self.make_node = make_node
        # Sees every frame a node sends, before the network (tests decode what was said).
        self.tap: Callable[[str, str, bytes], None] | None = None
        self.rng = random.Random(seed)
        self.config = config or NodeConfig.lan()
        self.net = net or NetOptions()
        self.keep_events = keep_events
        self.now = 0.0
        self._heap: list[tuple[float, int, int, str, Any]] = []
        self._seq = 0
        self.nodes: dict[str, SimNode] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._clogged: set[str] = set()
        self.delivered = 0
        self.dropped = 0
        self.on_event: Callable[[str, RegistryEvent, float], None] | None = None
        self.is_local: Callable[[str], bool] = local or (lambda name: True)
        self.sharded = local is not None
        # Packets for another shard's nodes: (when, dest, data), data as in ``_deliver_at``.
        self.outbox: list[tuple[float, str, Any]] = []
        model = self.net.model
        self.tcp = TcpPaths(self.rng, self.net.tcp) if model != "datagram" else None
        self.links = LinkPaths(self.rng, self.net.tcp, self.net.links,
                               self.config.max_datagram_size) if model == "links" else None
        self.offers = int(Feature.DATAGRAM | Feature.STREAM) if model == "links" else 0

    # -------------------------------------------------------------- scheduling
    def _push(self, t: float, kind: Due, name: str, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, name, data))

    def _arm(self, sn: SimNode) -> None:
        if sn.node is None or sn.state != "up":
            return
        t = sn.node.poll_timeout()
        if t is not None and t != sn.wake:
            sn.wake = t
            self._push(max(t, self.now), Due.TIMER, sn.name, t)

    def drain(self, sn: SimNode, reply: tuple[str, float | None] | None = None) -> None:
        """Run the loop's output half for one node: transmits, events, results, next wake.
        ``reply``: (sender, arrival) of the response of the frame just handled; the first
        transmit to that sender rides in it (lost if the arrival is None)."""
        node = sn.node
        assert node is not None
        while (tx := node.poll_transmit()) is not None:
            sn.bytes_out += len(tx.payload)
            stream = len(tx) > 2 and tx[2]  # (a previous release's Transmit has 2 fields)
            if reply is not None and tx.dest == reply[0] and not stream:
                at = reply[1]
                reply = None
                if at == LINK_REPLY and self.links is not None:  # on the sender's link, now
                    at = self.links.reply(tx.dest, sn.name, self.now, self.net.loss,
                                          self._cut(sn.name, tx.dest), self._latency)
                if at is None:
                    self.dropped += 1
                else:
                    self._deliver_at(at, tx.dest, tx.payload)
                continue
            self._send(sn, tx.dest, tx.payload, stream)
        while (ev := node.poll_event()) is not None:
            if self.keep_events:
                sn.events.append(ev)
            if self.on_event is not None:
                self.on_event(sn.name, ev, self.now)
        while node.poll_result() is not None:
            pass
        self._arm(sn)

    def _latency(self) -> float:
        """One one-way delay: ``latency_min`` + an exponential draw (expovariate, inlined: it
        runs for every packet)."""
        net = self.net
        return net.latency_min + -log(1.0 - self.rng.random()) * max(
            1e-9, net.latency_mean - net.latency_min)

    def _cut(self, src: str, dest: str) -> bool:
        """Whether the network delivers nothing from ``src`` to ``dest`` now."""
        clogged, blocked = self._clogged, self._blocked
        return ((bool(clogged) and (src in clogged or dest in clogged))
                or (bool(blocked) and (src, dest) in blocked))

    def _send(self, sn: SimNode, dest: str, payload: bytes, stream: bool = False) -> None:
        net, rng, src = self.net, self.rng, sn.name
        if self.tap is not None:
            self.tap(src, dest, payload)
        latency = self._latency
        links, path = self.links, HTTP
        if links is not None and sn.offers and sn.node is not None:
            path = links.path(sn.node, dest, len(payload), stream)
        if path == DATAGRAM and links is not None:
            links.by_path[DATAGRAM] += 1
            if links.datagram_sent(src, dest, self.now):  # silent since: a hint, as shipped
                self._push(self.now, Due.UNREACHABLE, src, dest)
            if self._cut(src, dest) or (net.loss and rng.random() < net.loss):
                self.dropped += 1
            else:  # (payload, sender): its arrival shows the sender is not silent
                self._deliver_at(self.now + latency(), dest, (payload, src))
            return
        cut_fwd, cut_back = self._cut(src, dest), self._cut(dest, src)
        sent = None  # over a link; None when it declines (backing off): HTTP POST
        if path != HTTP and links is not None:
            sent = links.send(src, dest, self.now, net.loss, cut_fwd, cut_back, latency)
        if sent is None and self.tcp is not None:
            if links is not None:
                links.by_path[HTTP] += 1
            sent = self.tcp.send(src, dest, self.now, net.loss, cut_fwd, cut_back, latency)
        if sent is not None:
            if sent.deliver_at is None:
                self.dropped += 1
            else:
                self._deliver_at(sent.deliver_at, dest, (payload, src, sent.reply_at))
            if sent.failed_at is not None:
                self._push(sent.failed_at, Due.UNREACHABLE, src, dest)
            return
        if cut_fwd:
            self.dropped += 1
            return
        copies = 2 if net.duplicate and rng.random() < net.duplicate else 1
        for _ in range(copies):
            if net.loss and rng.random() < net.loss:
                self.dropped += 1
                continue
            self._deliver_at(self.now + latency(), dest, payload)

    def _deliver_at(self, when: float, dest: str, data: Any) -> None:
        """Queue a delivery. ``data``: a frame, or (frame, sender, reply arrival) for a request
        whose response can carry a reply."""
        if self.sharded and (to := self.nodes.get(dest)) is not None and to.remote:
            self.outbox.append((when, dest, data))
            return
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, Due.PACKET, dest, data))

    def inject(self, packets: Iterable[tuple[float, str, Any]]) -> None:
        """Packets from other shards. One due before now would be a packet that came too late
        (the split's lookahead broken): that raises, not delivers it late."""
        now = self.now
        for when, dest, data in packets:
            if when < now:
                raise RuntimeError(f"a packet from another shard came late: due at {when}, "
                                   f"now {now}")
            self._push(when, Due.PACKET, dest, data)

    def take_outbox(self) -> list[tuple[float, str, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def run_until(self, t: float) -> None:
        """Advance virtual time to ``t``, processing everything due before it."""
        heap, nodes, pop = self._heap, self.nodes, heapq.heappop
        while heap and heap[0][0] <= t:
            when, _, kind, name, data = pop(heap)
            self.now = when
            sn = nodes.get(name)
            if sn is None or (node := sn.node) is None:
                continue
            if kind is Due.TIMER:
                if data != sn.wake or sn.state != "up":
                    continue
                sn.wake = None
                node.handle_timeout(when, wall=sn.wall(when))
            elif kind is Due.UNREACHABLE:  # a frame could not reach ``data``
                if sn.state != "up":
                    continue
                node.handle_unreachable(data, when)
            else:
                if sn.state != "up":
                    if sn.state == "paused":
                        sn.inbox.append(data)
                    continue
                self.delivered += 1
                if type(data) is tuple and len(data) == 3:
                    payload, src, reply_at = data
                    if node.handle_packet(payload, when, wall=sn.wall(when)).reply_to == src:
                        self.drain(sn, (src, reply_at))
                        continue
                elif type(data) is tuple:  # a datagram of the links model: (payload, sender)
                    node.handle_packet(data[0], when, wall=sn.wall(when))
                    if self.links is not None:
                        self.links.heard(name, data[1])
                else:
                    node.handle_packet(data, when, wall=sn.wall(when))
            self.drain(sn)
        self.now = max(self.now, t)

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def run_until_true(self, cond: Callable[[], bool], timeout: float,
                       step: float = 0.05) -> float | None:
        """Run until ``cond()`` holds (checked every ``step`` s); the time taken, or None."""
        start = self.now
        while self.now - start <= timeout:
            if cond():
                return self.now - start
            self.run_for(step)
        return None

    # ------------------------------------------------------------------ nodes
    def _make(self, name: str, generation: int) -> Node:
        rng = random.Random(self.rng.getrandbits(64))
        extra: dict[str, Any] = {}  # only what is used: a factory may know neither
        if self.signing:
            extra["identity"] = self.identity(name)
        if self.offers:
            extra["features"] = self.offers
        return self.make_node(name, name, self.config, rng=rng, now=self.now,
                              generation=generation, **extra)

    def identity(self, name: str) -> Any:
        """The stub identity node ``name`` signs with (the same across its restarts)."""
        return stub_identity(name, self.seed)

    def add_node(self, name: str, seeds: Iterable[str] = (), skew: float = 0.0) -> Node | None:
        """Start a node (None for a node another shard runs: a placeholder is kept)."""
        old = self.nodes.get(name)
        generation = old.generation + 1 if old is not None else 1
        if not self.is_local(name):
            self.rng.getrandbits(64)  # what _make draws: every shard's stream stays the same
            self.nodes[name] = SimNode(name, None, generation, skew=skew, remote=True)
            return None
        node = self._make(name, generation)
        # What its transport offers: a node of a previous release (no ``features_at``) none.
        offers = self.offers if hasattr(node.read, "features_at") else 0
        sn = SimNode(name, node, generation, skew=skew, offers=offers)
        if old is not None:
            sn.events = old.events
        self.nodes[name] = sn
        node.join(list(seeds), self.now)
        self.drain(sn)
        return node

    def node(self, name: str) -> Node:
        n = self.nodes[name].node
        assert n is not None
        return n

    def wall(self, name: str) -> float:
        """Node ``name``'s wall clock now (what a test passes as ``wall`` to its inputs)."""
        return self.nodes[name].wall(self.now)

    def live(self) -> list[str]:
        """Nodes up (in every shard: a remote node counts until it is crashed or paused)."""
        return [n for n, sn in self.nodes.items() if sn.state == "up"
                and (sn.remote or (sn.node is not None and not sn.node.left))]

    def local_live(self) -> list[str]:
        return [n for n in self.live() if not self.nodes[n].remote]

    def crash(self, name: str) -> None:
        sn = self.nodes[name]
        sn.state = "crashed"
        sn.node = None
        sn.wake = None
        sn.inbox.clear()

    def restart(self, name: str, seeds: Iterable[str]) -> Node | None:
        """Start a crashed node again: same name and address, new generation, empty state."""
        return self.add_node(name, seeds, self.nodes[name].skew)

    def pause(self, name: str) -> None:
        self.nodes[name].state = "paused"

    def resume(self, name: str) -> None:
        sn = self.nodes[name]
        sn.state = "up"
        if sn.remote:
            return
        assert sn.node is not None
        held, sn.inbox = sn.inbox, []
        for data in held:
            # Answered late: what the node says back goes out as frames of its own.
            sn.node.handle_packet(data[0] if type(data) is tuple else data, self.now,
                                  wall=sn.wall(self.now))
        sn.node.handle_timeout(self.now, wall=sn.wall(self.now))
        sn.wake = None
        self.drain(sn)

    def leave(self, name: str) -> None:
        sn = self.nodes[name]
        assert sn.node is not None
        sn.node.leave(self.now)
        self.drain(sn)

    # ---------------------------------------------------------------- network
    def partition(self, *groups: Iterable[str]) -> None:
        """Cut every link between different groups (both ways)."""
        gs = [set(g) for g in groups]
        for i, a in enumerate(gs):
            for b in gs[i + 1:]:
                for x in a:
                    for y in b:
                        self._blocked.add((x, y))
                        self._blocked.add((y, x))

    def partition_oneway(self, src: Iterable[str], dest: Iterable[str]) -> None:
        """Drop packets from ``src`` nodes to ``dest`` nodes only."""
        for x in src:
            for y in dest:
                self._blocked.add((x, y))

    def repair(self) -> None:
        self._blocked.clear()

    def clog(self, name: str) -> None:
        self._clogged.add(name)

    def unclog(self, name: str) -> None:
        self._clogged.discard(name)
