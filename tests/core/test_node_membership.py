"""SWIM membership through the in-memory harness: joins, crashes, slowness, leave, restart,
partitions. Explicit virtual time only."""

from __future__ import annotations

import random

import pytest

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import RECORD_VALUES
from gossipreg.core.node import Node
from gossipreg.core.types import MemberState, RegistryEventType
from gossipreg.core.wire.messages import Alive, Ping, Suspect, encode, parse
from sim.cluster import Cluster
from tests.corekit import Tap

E = RegistryEventType


def make(n: int, seed: int = 1, **cfg: float) -> Cluster:
    c = Cluster(seed=seed, config=NodeConfig.lan(**cfg))
    c.add_node("n0")
    for i in range(1, n):
        c.add_node(f"n{i}", seeds=["n0"])
    return c


def kinds(c: Cluster, name: str, node_id: str | None = None) -> list[RegistryEventType]:
    return [e.event_type for e in c.nodes[name].events
            if node_id is None or e.metadata.get("node_id") == node_id]


@pytest.mark.parametrize("n", [3, 10])
def test_join_through_one_seed_all_agree(n: int) -> None:
    c = make(n)
    took = c.run_until_true(c.all_alive_everywhere, timeout=10.0)
    assert took is not None, "members did not converge"
    assert took < 3.0
    assert c.members_agree()
    for name in c.live():
        assert len(c.node(name).read.members()) == n


def test_crashed_node_suspect_then_dead_everywhere() -> None:
    c = make(6)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    c.crash("n3")
    survivors = [x for x in c.live()]
    took = c.run_until_true(
        lambda: all(c.member_view(s)["n3"] is MemberState.DEAD for s in survivors), 30.0)
    assert took is not None
    lo = 4.0 * 1.0  # suspicion_mult * max(1, log10(6)) * probe_interval
    assert lo <= took <= lo * 6 + 3.0
    for s in survivors:
        seen = kinds(c, s, "n3")
        assert E.MEMBER_FAILED in seen
        if E.MEMBER_SUSPECT in seen:
            assert seen.index(E.MEMBER_SUSPECT) < seen.index(E.MEMBER_FAILED)
    # Somebody announced the suspicion with itself as the source.
    sources = {e.metadata.get("source") for s in survivors for e in c.nodes[s].events
               if e.event_type is E.MEMBER_SUSPECT and e.metadata["node_id"] == "n3"}
    assert sources and sources <= set(survivors)


def test_slow_node_refutes_and_is_never_dead() -> None:
    c = make(5)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    # Pause n2 for longer than a probe timeout, shorter than the suspicion timeout.
    c.pause("n2")
    c.run_for(1.5)
    c.resume("n2")
    c.run_for(15.0)
    for s in c.live():
        assert E.MEMBER_FAILED not in kinds(c, s, "n2"), s
        assert c.member_view(s)["n2"] is MemberState.ALIVE
    assert c.node("n2").members.me.incarnation >= 1 or not any(
        E.MEMBER_SUSPECT in kinds(c, s, "n2") for s in c.live())


def test_graceful_leave_is_not_a_failure() -> None:
    c = make(5)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    c.leave("n4")
    others = ["n0", "n1", "n2", "n3"]
    took = c.run_until_true(
        lambda: all(c.member_view(s)["n4"] is MemberState.LEFT for s in others), 5.0)
    assert took is not None and took < 1.0
    c.crash("n4")
    c.run_for(30.0)
    for s in others:
        assert E.MEMBER_LEFT in kinds(c, s, "n4")
        assert E.MEMBER_FAILED not in kinds(c, s, "n4")
        assert E.MEMBER_SUSPECT not in kinds(c, s, "n4")
        assert c.member_view(s)["n4"] is MemberState.LEFT


def test_partition_both_sides_see_dead_then_heal() -> None:
    c = make(6, seed=3)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    a, b = ["n0", "n1", "n2"], ["n3", "n4", "n5"]
    c.partition(a, b)
    c.run_for(40.0)
    for x in a:
        assert all(c.member_view(x)[y] is MemberState.DEAD for y in b)
    for y in b:
        assert all(c.member_view(y)[x] is MemberState.DEAD for x in a)
    c.repair()
    took = c.run_until_true(c.all_alive_everywhere, 60.0)
    assert took is not None, "partition did not heal"
    assert c.members_agree()


def test_restart_gets_new_generation_and_rejoins() -> None:
    c = make(4)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    c.crash("n2")
    c.run_for(30.0)
    assert c.member_view("n0")["n2"] is MemberState.DEAD
    c.restart("n2", ["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    assert all(c.node(s).members.get("n2").generation == 2 for s in c.live())  # type: ignore[union-attr]


def test_determinism_same_seed_same_bytes() -> None:
    def run() -> tuple[list[bytes], list[str]]:
        c = make(5, seed=42)
        log: list[bytes] = []
        c.tap = lambda src, dest, payload: log.append(
            src.encode() + b">" + dest.encode() + b":" + payload)
        c.run_for(5.0)
        c.crash("n1")
        c.run_for(20.0)
        evs = [f"{n}:{e.event_type.value}:{e.metadata}" for n in sorted(c.nodes)
               for e in c.nodes[n].events]
        return log, evs

    a, b = run(), run()
    assert a[0] == b[0]
    assert a[1] == b[1]
    assert len(a[0]) > 100


def test_bad_packets_are_counted_and_logged_at_a_limited_rate(
        caplog: pytest.LogCaptureFixture) -> None:
    c = make(2)
    node = c.node("n0")
    before = c.member_view("n0")
    with caplog.at_level("WARNING", logger="gossipreg.core.drops"):
        for i in range(100):
            node.handle_packet(b"garbage" + bytes([i]), c.now, wall=c.wall("n0"))
        assert node.read.metrics().dropped["bad_magic"] == 100
        assert len(caplog.records) == 1
        node.handle_packet(b"garbage", c.now + 11.0, wall=c.wall("n0") + 11.0)
        assert len(caplog.records) == 2 and "bad_magic" in caplog.records[-1].getMessage()
    assert c.member_view("n0") == before


def test_a_member_answers_a_stale_suspicion_of_itself_directly() -> None:
    """A member that already refuted (its refutation reached nobody, as a broadcast sometimes
    misses a member) answers a late suspicion of itself with its Alive straight to the sender,
    so no one declares it DEAD."""
    c = make(4)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    n2 = c.node("n2")
    stale = n2.members.me.incarnation
    n2.members.refute(stale)  # raised, but told to nobody
    # n1 hears (from n3) the suspicion at the stale incarnation: it probes n2 at once, with
    # the suspicion riding on its ping.
    c.node("n1").swim.on_suspect(Suspect("n2", n2.generation, stale, "n3"), c.now)
    c.drain(c.nodes["n1"])
    took = c.run_until_true(lambda: all(
        c.node(x).members.get("n2").incarnation == stale + 1  # type: ignore[union-attr]
        and c.member_view(x)["n2"] is MemberState.ALIVE for x in ("n0", "n1", "n3")), 5.0)
    assert took is not None and took < 2.0
    c.run_for(40.0)
    for x in ("n0", "n1", "n3"):
        assert E.MEMBER_FAILED not in kinds(c, x, "n2")


def test_a_suspect_that_missed_its_suspicion_is_reminded_before_the_timer_fires() -> None:
    """n0 suspects n1 while nothing from n0 reaches n1: the suspicion's broadcast is spent
    before the link heals, and n0's later probes are answered with plain acks, which refute
    nothing. The reminders (the Suspect sent straight to n1) still get n1 to refute in time."""
    c = make(2)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    inc = c.node("n1").members.me.incarnation
    c.partition_oneway(["n0"], ["n1"])
    assert c.run_until_true(lambda: c.member_view("n0")["n1"] is MemberState.SUSPECT,
                            10.0) is not None
    c.run_for(1.0)  # every transmission of the Suspect is lost
    c.repair()
    c.run_for(30.0)
    assert E.MEMBER_FAILED not in kinds(c, "n0", "n1")
    assert c.member_view("n0")["n1"] is MemberState.ALIVE
    assert c.node("n0").members.get("n1").incarnation > inc  # type: ignore[union-attr]


def test_a_lost_ping_is_sent_again_before_the_target_is_suspected() -> None:
    """Two members, so no peer can ping on our behalf: the first ping of a probe is lost, the
    second one (sent with the ping-reqs) gets through, and nobody is suspected."""
    c = make(2)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    tap = Tap(c)
    c.partition_oneway(["n0"], ["n1"])
    mark = len(tap.seen)
    assert c.run_until_true(lambda: bool(tap.since(mark, lambda s: s.src == "n0" and isinstance(
        s.msg, Ping) and s.msg.target == "n1")), 5.0) is not None
    c.repair()  # the new probe's first ping is already lost
    c.run_for(5.0)
    assert E.MEMBER_SUSPECT not in kinds(c, "n0", "n1")


def _pings_to(node: Node, addr: str) -> int:
    """Ping messages in ``node``'s pending transmits to ``addr`` (drained)."""
    n = 0
    while (tx := node.poll_transmit()) is not None:
        if tx.dest == addr:
            msgs = [parse(m, RECORD_VALUES) for m in node.codec.decode(tx.payload).messages]
            n += sum(isinstance(m, Ping) for m in msgs)
    return n


def test_a_frame_the_transport_could_not_deliver_makes_its_member_probed_at_once() -> None:
    """The hint probes out of turn, once at a time, only a member believed ALIVE; the probe
    decides (a verdict needs it to fail)."""
    node = Node("n0", "a0", NodeConfig.lan(), rng=random.Random(1), now=0.0)
    for i in (1, 2, 3):
        node.assume_member(f"n{i}", f"a{i}", 1, 0.0)
    _pings_to(node, "")
    node.handle_unreachable("a2", 0.0)
    assert _pings_to(node, "a2") == 1  # now, though no probe was due
    node.handle_unreachable("a2", 0.1)
    node.handle_unreachable("a9", 0.1)  # no such member
    assert _pings_to(node, "a2") == 0  # already being probed
    t = 0.0
    while t < 1.2:  # no ack comes: suspected when the probe ends
        t += 0.05
        node.handle_timeout(t, wall=t)
        _pings_to(node, "")
    states = {m.node_id: m.state for m in node.read.members()}
    assert states["n2"] is MemberState.SUSPECT
    node.handle_unreachable("a2", t)
    assert _pings_to(node, "a2") == 0  # a suspect is not probed again on a hint


def test_an_unreachable_hint_for_a_live_member_leaves_it_alive() -> None:
    c = make(4)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    for _ in range(5):
        c.node("n0").handle_unreachable("n2", c.now)
        c.drain(c.nodes["n0"])
        c.run_for(2.0)
    assert c.all_alive_everywhere()
    assert E.MEMBER_SUSPECT not in kinds(c, "n0", "n2")


def test_a_known_alive_is_a_duplicate_and_a_newer_one_is_taken() -> None:
    c = Cluster(seed=5, config=NodeConfig.lan())
    c.add_node("n0")
    c.add_node("n1", seeds=["n0"])
    c.add_node("n2", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, timeout=10.0) is not None
    n0 = c.node("n0")
    gen = c.nodes["n2"].generation
    inc = next(m.incarnation for m in n0.read.members() if m.node_id == "n2")

    def alive_from_n1(incarnation: int) -> tuple[int, bool]:
        before = n0.read.metrics().duplicates_in
        frame = n0.codec.encode("n1", "n1", [encode(Alive("n2", "n2", gen, incarnation))])
        n0.handle_packet(frame, c.now, wall=c.wall("n0"))
        m = next(m for m in n0.read.members() if m.node_id == "n2")
        return n0.read.metrics().duplicates_in - before, m.incarnation == incarnation

    assert alive_from_n1(inc) == (1, True)  # known news: dropped before parsing, counted
    assert alive_from_n1(inc + 1) == (0, True)  # a refutation: parsed and taken
    assert alive_from_n1(inc) == (1, False)  # older than what is held now: a duplicate
