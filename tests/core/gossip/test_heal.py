"""Partitions that heal in round trips and splits that are not slowed by the relays' own
health (found with the kernel-fault harness, sim/mesh faults). Virtual time only."""

from __future__ import annotations

import random

import pytest

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import RECORD_VALUES
from gossipreg.core.gossip.antientropy import HEALING
from gossipreg.core.node import Node
from gossipreg.core.types import MemberState
from gossipreg.core.wire.messages import (
    Alive,
    Dead,
    MemberRow,
    Nack,
    Ping,
    PingReq,
    Sync,
    encode,
    parse,
)
from sim.cluster import Cluster
from tests.corekit import Said, hear, said


def make(n: int, seed: int) -> Cluster:
    c = Cluster(seed=seed, config=NodeConfig.lan())
    c.add_node("n0")
    for i in range(1, n):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    return c


def _split(c: Cluster, a: list[str], b: list[str]) -> bool:
    return all(c.member_view(x)[y] is MemberState.DEAD and c.member_view(y)[x]
               is MemberState.DEAD for x in a for y in b)


def test_a_partition_healed_soon_after_the_split_merges_within_a_few_round_trips() -> None:
    """12 nodes, 6 | 6, healed once both sides see the other DEAD. Before: the first SYNC
    across waited for the 10 s reconnect timer and each refutation for its own exchange
    (10.2 s median over 8 seeds); now recently DEAD members are tried every probe interval and
    a SYNC from a DEAD member spreads to the other DEAD ones."""
    for seed in (1, 2, 3):
        c = make(12, seed)
        names = sorted(c.nodes)
        a, b = names[:6], names[6:]
        c.partition(a, b)
        assert c.run_until_true(lambda a=a, b=b, c=c: _split(c, a, b), 60.0) is not None
        c.repair()
        took = c.run_until_true(c.all_alive_everywhere, 60.0)
        assert took is not None and took < 3.0, (seed, took)
        assert c.members_agree()


def test_the_minority_side_of_a_partition_sees_the_split_without_its_health_maxing_out() -> None:
    """4 | 8: the minority's relays sat across the cut or nacked late (stretched by their own
    health), its nodes' health climbed to the maximum (7) and probing slowed to one per 8 s
    (splits 34-48 s on these seeds). Now relays that acked recently are preferred and nack
    within the prober's window: health stays low and the split comes sooner."""
    took_all = []
    for seed in (1, 2, 3):
        c = make(12, seed)
        names = sorted(c.nodes)
        random.Random(seed).shuffle(names)
        a, b = names[:4], names[4:]
        c.partition(a, b)
        worst = [0]

        def split(a: list[str] = a, b: list[str] = b, c: Cluster = c,
                  worst: list[int] = worst) -> bool:
            worst[0] = max(worst[0], *(c.node(x).swim.health for x in a))
            return _split(c, a, b)

        took = c.run_until_true(split, 120.0)
        assert took is not None, seed
        assert worst[0] <= 4, (seed, worst[0])
        took_all.append(took)
    assert sum(took_all) / len(took_all) < 32.0, took_all


def test_a_relay_nacks_within_the_probers_window_whatever_its_own_health() -> None:
    """A relay asked to ping a member that does not answer sends its nack at 0.8 of the
    probe timeout, not stretched by its own (poor) health: later, the prober has given up."""
    cfg = NodeConfig.lan()
    relay = Node("n1", "a1", cfg, rng=random.Random(1), now=0.0)
    relay.assume_member("n0", "a0", 1, 0.0)
    relay.assume_member("n2", "a2", 1, 0.0)
    relay.swim.health = 7
    said(relay)
    assert hear(relay, "n0", "a0", PingReq(9, "n2", "a2"), now=10.0)
    due = 10.0 + 0.8 * cfg.probe_timeout
    sent: list[tuple[float, Said]] = []
    t = 10.0
    while t < due + 1.0:
        t = min(relay.poll_timeout() or due + 1.0, due + 1.0)
        relay.handle_timeout(t, wall=1.7e9 + t)
        sent += [(t, s) for s in said(relay) if isinstance(s.msg, Nack) and s.dest == "a0"]
    assert [when for when, _ in sent] == [pytest.approx(due)]


def test_a_table_that_holds_us_dead_gets_our_alive_straight_back() -> None:
    c = make(3, seed=1)
    n1 = c.node("n1")
    me = next(m for m in n1.read.members() if m.node_id == "n1")
    said(n1)
    row = MemberRow(me.node_id, me.address, me.generation, me.incarnation, MemberState.DEAD)
    assert hear(n1, "n0", "n0-address", Sync(1, {}, b"", (row,), False), now=c.now)
    now = next(m for m in n1.read.members() if m.node_id == "n1")
    assert now.incarnation == row.incarnation + 1  # refuted
    alive = [s.dest for s in said(n1) if isinstance(s.msg, Alive) and s.msg.node == "n1"]
    assert "n0-address" in alive


def _syncs_to(node: Node, addr: str) -> int:
    n = 0
    while (tx := node.poll_transmit()) is not None:
        if tx.dest == addr:
            msgs = node.codec.decode(tx.payload).messages
            n += sum(isinstance(parse(m, RECORD_VALUES), Sync) for m in msgs)
    return n


def test_a_member_back_from_dead_opens_a_healing_window_toward_those_still_dead() -> None:
    """20 members; n1 and n2 DEAD. When n1's refutation arrives, n2 (perhaps behind the same
    healed cut, its own refutation missed) gets a SYNC every probe interval for HEALING
    intervals: without the window, a recently dead member is tried with chance 1/20 each."""
    node = Node("n0", "a0", NodeConfig.lan(), rng=random.Random(5), now=0.0)
    for i in range(1, 21):
        node.assume_member(f"n{i}", f"a{i}", 1, 0.0)

    def hear(msg: object, t: float) -> None:
        node.handle_packet(node.codec.encode("n9", "a9", [encode(msg)]), t, wall=t)

    hear(Dead("n1", 1, 0, "n9"), 0.0)
    hear(Dead("n2", 1, 0, "n9"), 0.0)
    t, before = 0.0, 0
    while t < 3.0:  # no window yet: the usual odds
        t += 0.05
        node.handle_timeout(t, wall=t)
        before += _syncs_to(node, "a2")
    hear(Alive("n1", "a1", 1, 1), t)
    after, end = 0, t + HEALING * node.cfg.probe_interval
    while t < end:
        t += 0.05
        node.handle_timeout(t, wall=t)
        after += _syncs_to(node, "a2")
    assert {m.node_id: m.state for m in node.read.members()}["n1"] is MemberState.ALIVE
    assert after == HEALING and before <= 1, (before, after)


def test_a_packet_from_a_member_held_dead_opens_an_exchange_with_it() -> None:
    """A member cut off alone holds the others SUSPECT, so it tries no reconnect; the first
    packet it gets through (here a ping) brings it our table, where it finds itself DEAD."""
    node = Node("n0", "a0", NodeConfig.lan(), rng=random.Random(2), now=0.0)
    for i in (1, 2):
        node.assume_member(f"n{i}", f"a{i}", 1, 0.0)
    node.handle_packet(node.codec.encode("n2", "a2", [encode(Dead("n1", 1, 0, "n2"))]), 0.0,
                       wall=0.0)
    _syncs_to(node, "")
    node.handle_packet(node.codec.encode("n2", "a2", [encode(Ping(7, "n0"))]), 0.5, wall=0.5)
    assert _syncs_to(node, "a2") == 0  # a live sender: nothing to exchange
    node.handle_packet(node.codec.encode("n1", "a1", [encode(Ping(8, "n0"))]), 0.5, wall=0.5)
    assert _syncs_to(node, "a1") == 1
