"""Byte budgets per path: to a peer that takes datagrams, probes and their answers stay within
``max_datagram_size``; a broadcast too large for a datagram goes out in a gossip tick's packet
of ``gossip_budget`` (a stream's); between nodes without datagrams nothing changes."""

from __future__ import annotations

import random

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.node import Node
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.messages import FEATURES, Feature, Tag

PATHS = int(Feature.DATAGRAM | Feature.STREAM)
CFG = NodeConfig.lan(heartbeat_timeout=None)


def pair(features: int) -> tuple[Node, Node]:
    a = Node("a", "a:1", CFG, rng=random.Random(1), now=0.0, features=features)
    b = Node("b", "b:1", CFG, rng=random.Random(2), now=0.0, features=features)
    a.assume_member("b", "b:1", 1, 0.0)
    b.assume_member("a", "a:1", 1, 0.0)
    return a, b


def run(nodes: dict[str, Node], until: float, start: float = 0.0,
        sent: list[tuple[str, bytes]] | None = None) -> None:
    """Drive the nodes on a lossless, instant network from ``start`` to ``until`` in 10 ms
    steps; every frame ``a`` sends is recorded in ``sent``."""
    now = start
    while now < until:
        now += 0.01
        for n in nodes.values():
            due = n.poll_timeout()
            if due is not None and due <= now:
                n.handle_timeout(now, wall=now)
        moved = True
        while moved:
            moved = False
            for addr, n in nodes.items():
                while (tx := n.poll_transmit()) is not None:
                    moved = True
                    if sent is not None and addr == "a:1":
                        sent.append((tx.dest, tx.payload))
                    nodes[tx.dest].handle_packet(tx.payload, now, wall=now)
                while n.poll_event() is not None:
                    pass


def tags(frame: bytes) -> set[int]:
    return {m[0] for m in Codec(CFG.cluster).decode(frame).messages}


def test_peers_learn_the_paths_each_transport_offers() -> None:
    a, b = pair(PATHS)
    plain = Node("c", "c:1", CFG, rng=random.Random(3), now=0.0)
    a.assume_member("c", "c:1", 1, 0.0)
    plain.assume_member("a", "a:1", 1, 0.0)
    run({"a:1": a, "b:1": b, "c:1": plain}, 5.0)
    assert a.read.features_at("b:1") == FEATURES | PATHS
    assert a.read.features_at("c:1") == FEATURES
    assert plain.read.features_at("a:1") == FEATURES | PATHS
    assert a.read.features_at("nowhere:1") == 0


def test_probes_to_a_datagram_peer_fit_a_datagram_while_writes_queue_up() -> None:
    a, b = pair(PATHS)
    nodes = {"a:1": a, "b:1": b}
    run(nodes, 3.0)  # features exchanged
    for i in range(40):  # ~8 KB of small writes queued at once
        a.register(make_record(f"agent-{i}", None, "rt", ["skill"], description="d" * 100),
                   3.0, wall=3.0)
    sent: list[tuple[str, bytes]] = []
    run(nodes, 12.0, start=3.0, sent=sent)
    probes = [p for _, p in sent if tags(p) & {Tag.PING, Tag.ACK}]
    assert probes and all(len(p) <= CFG.max_datagram_size for p in probes)
    assert len(b.read.visible) == 40


def test_a_write_too_large_for_a_datagram_goes_in_a_gossip_packet_of_its_own_budget() -> None:
    a, b = pair(PATHS)
    nodes = {"a:1": a, "b:1": b}
    run(nodes, 3.0)
    a.register(make_record("big", None, "rt", ["skill"], description="x" * 7000), 3.0, wall=3.0)
    sent: list[tuple[str, bytes]] = []
    run(nodes, 8.0, start=3.0, sent=sent)
    large = [p for _, p in sent if len(p) > CFG.max_datagram_size]
    assert large and all(Tag.WRITE in tags(p) and Tag.PING not in tags(p) for p in large)
    assert all(len(p) <= CFG.max_datagram_size for _, p in sent if Tag.PING in tags(p))
    assert b.read.get("big") is not None


def test_without_datagrams_a_probe_carries_the_whole_gossip_budget() -> None:
    a, b = pair(0)
    nodes = {"a:1": a, "b:1": b}
    run(nodes, 3.0)
    for i in range(40):
        a.register(make_record(f"agent-{i}", None, "rt", ["skill"], description="d" * 100),
                   3.0, wall=3.0)
    sent: list[tuple[str, bytes]] = []
    run(nodes, 6.0, start=3.0, sent=sent)
    assert max(len(p) for _, p in sent) > CFG.max_datagram_size
    assert len(b.read.visible) == 40


def test_writes_beyond_the_queue_bound_are_dropped_counted_and_still_arrive() -> None:
    """More writes at once than ``max_queued_writes``: the queue holds the bound, the rest is
    counted as ``broadcast_overflow``, and anti-entropy still brings every write to the peer."""
    cfg = NodeConfig.lan(heartbeat_timeout=None, max_queued_writes=10)
    a = Node("a", "a:1", cfg, rng=random.Random(1), now=0.0, features=PATHS)
    b = Node("b", "b:1", cfg, rng=random.Random(2), now=0.0, features=PATHS)
    a.assume_member("b", "b:1", 1, 0.0)
    b.assume_member("a", "a:1", 1, 0.0)
    nodes = {"a:1": a, "b:1": b}
    run(nodes, 3.0)
    for i in range(40):
        a.register(make_record(f"agent-{i}", None, "rt", ["skill"]), 3.0, wall=3.0)
    assert a.read.stats().queue_depth <= 10
    assert a.read.metrics().dropped.get("broadcast_overflow", 0) >= 30
    run(nodes, 60.0, start=3.0)
    assert len(b.read.visible) == 40
