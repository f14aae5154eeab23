"""The replicated directory through the in-memory harness: registration, deregistration,
status writes, heartbeats, owner failure, leave, restart, partitions. Virtual time only."""

from __future__ import annotations

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.directory import Pending
from gossipreg.core.directory.records import RECORD_VALUES, make_record
from gossipreg.core.errors import AgentExistsError
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentStatus, RegistryEventType
from gossipreg.core.wire.messages import Tag, WriteMsg, encode
from sim.cluster import Cluster, NetOptions

E = RegistryEventType


def make(n: int, seed: int = 1, model: str = "tcp", **cfg: float | None) -> Cluster:
    c = Cluster(seed=seed, config=NodeConfig.lan(**cfg), net=NetOptions(model=model))
    c.add_node("n0")
    for i in range(1, n):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    return c


def reg(c: Cluster, node: str, agent_id: str, runtime: str, caps: list[str]) -> None:
    c.node(node).register(make_record(agent_id, agent_id.upper(), runtime, caps), c.now,
                          wall=c.wall(node))
    c.run_for(0.0)


def agent_events(c: Cluster, name: str, agent_id: str | None = None,
                 runtime: str | None = None) -> list[RegistryEventType]:
    return [e.event_type for e in c.nodes[name].events
            if not e.event_type.value.startswith("member_")
            and (agent_id is None or e.agent_id in (agent_id, None))
            and (runtime is None or e.runtime_id == runtime)]


def everywhere(c: Cluster, pred: object) -> bool:
    return all(pred(c.node(n)) for n in c.live())  # type: ignore[operator]


def test_registration_visible_everywhere_with_events_in_order() -> None:
    c = make(10)
    reg(c, "n3", "a1", "rt-x", ["Python code generation"])
    took = c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is not None), 5.0)
    assert took is not None and took < 2.0
    for name in c.live():
        evs = agent_events(c, name, runtime="rt-x")
        assert evs[:2] == [E.RUNTIME_JOINED, E.AGENT_REGISTERED], (name, evs)
        found = c.node(name).read.find(Query.of("python"))
        assert [v.agent_id for v in found] == ["a1"]
        assert found[0].node_id == "n3"


def test_deregistration_everywhere_then_runtime_left() -> None:
    c = make(5)
    reg(c, "n1", "a1", "rt", ["x"])
    reg(c, "n1", "a2", "rt", ["y"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a2") is not None), 5.0)
    assert c.node("n1").deregister("a1", c.now, wall=c.wall("n1")) is True
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is None), 5.0)
    for name in c.live():
        assert E.RUNTIME_LEFT not in agent_events(c, name, runtime="rt")
    # From another node: forwarded to the owner.
    out = c.node("n4").deregister("a2", c.now, wall=c.wall("n4"))
    assert isinstance(out, Pending)
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a2") is None), 5.0)
    for name in c.live():
        evs = agent_events(c, name, runtime="rt")
        assert evs[-2:] == [E.AGENT_DEREGISTERED, E.RUNTIME_LEFT], (name, evs)


def test_duplicate_registration_raises() -> None:
    c = make(3)
    reg(c, "n0", "a1", "rt", ["x"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is not None), 5.0)
    try:
        c.node("n2").register(make_record("a1", "dup", "rt", ["x"]), c.now, wall=c.wall("n2"))
    except AgentExistsError as e:
        assert "already registered" in str(e)
    else:
        raise AssertionError("duplicate accepted")


def test_status_from_non_owner_wins_by_hlc() -> None:
    c = make(5)
    reg(c, "n0", "a1", "rt", ["x"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is not None), 5.0)
    c.node("n0").set_status("a1", AgentStatus.DEGRADED, c.now, wall=c.wall("n0"))
    c.run_for(0.5)
    c.node("n3").set_status("a1", AgentStatus.UNHEALTHY, c.now, wall=c.wall("n3"))
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("a1").status is AgentStatus.UNHEALTHY), 5.0) is not None
    for name in c.live():
        changes = [e for e in c.nodes[name].events if e.event_type is E.AGENT_STATUS_CHANGED]
        assert changes[-1].metadata["new_status"] == "unhealthy"


def test_heartbeats_then_silence_unhealthy_then_deregistered() -> None:
    c = make(4, heartbeat_timeout=5.0, auto_deregister_timeout=12.0)
    reg(c, "n1", "a1", "rt", ["x"])
    for _ in range(4):
        c.node("n1").heartbeat("a1", c.now, wall=c.wall("n1"))
        c.run_for(1.0)
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("a1").heartbeat_count == 4), 5.0) is not None
    for name in c.live():
        assert E.AGENT_HEARTBEAT in agent_events(c, name, "a1")
    # Heartbeat through a non-owner is forwarded.
    assert isinstance(c.node("n3").heartbeat("a1", c.now, wall=c.wall("n3")), Pending)
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("a1").heartbeat_count == 5), 5.0) is not None
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("a1").status is AgentStatus.UNHEALTHY), 10.0) is not None
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is None), 15.0)
    for name in c.live():
        evs = agent_events(c, name, runtime="rt")
        assert evs[-2:] == [E.AGENT_DEREGISTERED, E.RUNTIME_LEFT]


def test_crashed_owner_agents_offline_then_deregistered() -> None:
    c = make(5, auto_deregister_timeout=20.0, heartbeat_timeout=None)
    reg(c, "n2", "a1", "rt2", ["x"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is not None), 5.0)
    c.crash("n2")
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("a1").status is AgentStatus.OFFLINE), 40.0) is not None
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is None), 30.0)
    for name in c.live():
        evs = agent_events(c, name, runtime="rt2")
        assert E.AGENT_STATUS_CHANGED in evs
        assert evs[-2:] == [E.AGENT_DEREGISTERED, E.RUNTIME_LEFT]


def test_leave_removes_agents_at_once() -> None:
    c = make(5)
    reg(c, "n4", "a1", "rt4", ["x"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("a1") is not None), 5.0)
    c.leave("n4")
    others = ["n0", "n1", "n2", "n3"]
    assert c.run_until_true(lambda: all(c.node(s).read.get("a1") is None for s in others), 2.0)
    for s in others:
        assert E.AGENT_STATUS_CHANGED not in agent_events(c, s, "a1")


def test_restart_old_agents_do_not_come_back() -> None:
    c = make(4, heartbeat_timeout=None)
    reg(c, "n3", "old", "rt3", ["x"])
    assert c.run_until_true(lambda: everywhere(c, lambda n: n.read.get("old") is not None), 5.0)
    c.crash("n3")
    c.run_for(2.0)
    c.restart("n3", ["n0"])
    reg(c, "n3", "new", "rt3", ["y"])
    assert c.run_until_true(lambda: everywhere(
        c, lambda n: n.read.get("new") is not None and n.read.get("old") is None), 15.0) is not None
    c.run_for(60.0)
    assert everywhere(c, lambda n: n.read.get("old") is None)


def test_partition_heals_and_directories_converge() -> None:
    c = make(6, seed=5, heartbeat_timeout=None, auto_deregister_timeout=600.0)
    a, b = ["n0", "n1", "n2"], ["n3", "n4", "n5"]
    c.partition(a, b)
    reg(c, "n1", "left-side", "rtA", ["alpha"])
    reg(c, "n4", "right-side", "rtB", ["beta"])
    c.run_for(30.0)
    assert all(c.node(x).read.get("right-side") is None for x in a)
    assert all(c.node(y).read.get("left-side") is None for y in b)
    c.repair()
    ok = c.run_until_true(
        lambda: c.all_alive_everywhere() and c.replicas_equal()
        and everywhere(c, lambda n: n.read.get("left-side") is not None
                       and n.read.get("right-side") is not None), 60.0)
    assert ok is not None


def _missed_last_write(beacon_delay: float) -> tuple[float | None, int]:
    """n5 hears nothing while n3 registers its only agent; no later write of n3 follows and
    push-pull is far away. Returns how long n5 took to see the agent, and its gap repairs."""
    c = make(8, seed=3, heartbeat_timeout=None, push_pull_interval=600.0,
             beacon_delay=beacon_delay)
    c.clog("n5")
    reg(c, "n3", "lonely", "rt", ["solo"])
    start = c.now
    others = [n for n in c.live() if n != "n5"]
    # Until every copy of the write is sent (the beacon is not due yet).
    assert c.run_until_true(
        lambda: all(c.node(n).read.get("lonely") is not None
                    and c.node(n).read.stats().queue_depth == 0 for n in others),
        1.5) is not None
    assert c.now - start < 1.5
    c.unclog("n5")
    took = c.run_until_true(lambda: c.node("n5").read.get("lonely") is not None, 8.0)
    return took, c.node("n5").read.metrics().gap_repairs


def test_a_lost_last_write_is_repaired_after_the_owners_beacon() -> None:
    took, repairs = _missed_last_write(beacon_delay=2.0)
    assert took is not None and took < 3.0, took
    assert repairs >= 1
    # Without the beacon nothing shows n5 the hole until the next push-pull.
    took, repairs = _missed_last_write(beacon_delay=1000.0)
    assert took is None and repairs == 0


def test_a_hole_is_asked_for_once_the_repair_delay_has_passed() -> None:
    """n2 gets n0's second write but never its first: the hole is asked for exactly
    ``gap_repair_delay`` later (no beacon, push-pull far away). Anti-entropy has a repair
    deadline only while there is a hole."""
    c = make(3, seed=5, heartbeat_timeout=None, push_pull_interval=600.0, beacon_delay=1000.0,
             gap_repair_delay=2.0)
    n0, n2 = c.node("n0"), c.node("n2")
    idle = n2.ae.next_deadline()
    assert idle == min(n2.ae.next_push_pull, n2.ae.next_reconnect)
    c.clog("n2")
    reg(c, "n0", "x", "rt", ["a"])
    reg(c, "n0", "y", "rt", ["b"])
    second = n0.out.queued_write("n0", "agent/y")
    assert second is not None
    c.run_for(3.0)  # every copy sent; n2 heard none
    c.unclog("n2")
    opened = c.now
    frame = n0.codec.encode(n0.id, n0.addr, [encode(WriteMsg(second), RECORD_VALUES)])
    n2.handle_packet(frame, c.now, wall=c.wall("n2"))
    c.drain(c.nodes["n2"])
    assert n2.read.get("y") is not None and n2.read.get("x") is None
    assert n2.ae.next_deadline() == opened + 2.0
    c.run_until(opened + 1.99)
    assert n2.read.metrics().gap_repairs == 0
    took = c.run_until_true(lambda: n2.read.get("x") is not None, 3.0)
    assert took is not None and c.now - opened < 2.5
    assert n2.read.metrics().gap_repairs == 1
    assert not n2.dir.replica.gaps()
    assert n2.ae.next_deadline() == min(n2.ae.next_push_pull, n2.ae.next_reconnect)


def test_owners_beacon_where_the_loss_they_see_makes_a_miss_plausible() -> None:
    """With a threshold of 1e-3, owners of a 10-member cluster do not beacon (miss chance
    7e-4); after their probes have seen 15% loss, they do. (Datagrams: over TCP a loss is a
    delay, probes rarely miss, and so do broadcasts.)"""
    c = make(10, seed=2, model="datagram", heartbeat_timeout=None, beacon_min_miss=1e-3)
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    n0 = c.node("n0")
    reg(c, "n0", "first", "rt", ["a"])
    c.run_for(5.0)
    assert n0.read.metrics().bytes_out_by_tag[Tag.BEACON] == 0
    assert n0.swim.delivery() == 1.0
    c.net.loss = 0.15
    c.run_for(40.0)
    c.net.loss = 0.0
    assert 0.6 < n0.swim.delivery() < 0.95
    reg(c, "n0", "second", "rt", ["b"])
    c.run_for(5.0)
    assert n0.read.metrics().bytes_out_by_tag[Tag.BEACON] > 0


def test_an_owner_restart_resets_keys_that_arrived_before_their_record() -> None:
    """Gossip can bring an agent's heartbeat before its record; when the owner restarts, the
    reset drops the keys in arrival order, the heartbeat's first. (Once raised in the view.)"""
    c = make(3, seed=4, heartbeat_timeout=None)
    c.clog("n2")
    n0, n2 = c.node("n0"), c.node("n2")
    n0.register(make_record("x", "X", "rt", ["a"]), c.now, wall=c.wall("n0"))
    n0.heartbeat("x", c.now, wall=c.wall("n0"))
    record = n0.out.queued_write("n0", "agent/x")
    beat = n0.out.queued_write("n0", "hb/x")
    assert record is not None and beat is not None
    assert n2.dir.receive_write(beat, c.now) and n2.dir.receive_write(record, c.now)
    n2.dir.commit(c.now)
    assert n2.read.get("x") is not None
    c.crash("n0")
    c.restart("n0", ["n1"])
    c.unclog("n2")
    assert c.run_until_true(lambda: n2.members.get("n0") is not None
                            and n2.members.get("n0").generation  # type: ignore[union-attr]
                            == c.node("n0").generation, 30.0) is not None
    assert n2.read.get("x") is None


def test_what_an_input_stamps_is_its_wall_time_and_its_timers_run_on_now() -> None:
    """Records, heartbeats and events carry the ``wall`` of the input that made them; the
    heartbeat judge counts on the monotonic ``now`` (a wall clock that jumps changes nothing)."""
    import random

    from gossipreg.core.node import Node

    cfg = NodeConfig.lan(heartbeat_timeout=10.0, auto_deregister_timeout=60.0)
    node = Node("n0", "a0", cfg, rng=random.Random(1), now=5.0)
    view = node.register(make_record("x", "X", "rt", ["c"]), 5.0, wall=1_700_000_000.5)
    assert view.record.registered_at == 1_700_000_000.5
    assert {e.timestamp for e in iter(node.poll_event, None)} == {1_700_000_000.5}
    node.heartbeat("x", 6.0, wall=1_700_000_000.25)  # the wall clock stepped back
    assert node.read.get("x").last_heartbeat == 1_700_000_000.25  # type: ignore[union-attr]
    assert [e.timestamp for e in iter(node.poll_event, None)] == [1_700_000_000.25]
    node.handle_timeout(15.9, wall=1_900_000_000.0)  # ... then leapt: no verdict before 16
    assert node.read.get("x").status is AgentStatus.ACTIVE  # type: ignore[union-attr]
    node.handle_timeout(16.0, wall=1_700_000_011.5)
    assert node.read.get("x").status is AgentStatus.UNHEALTHY  # type: ignore[union-attr]
    assert [e.timestamp for e in iter(node.poll_event, None)] == [1_700_000_011.5]
