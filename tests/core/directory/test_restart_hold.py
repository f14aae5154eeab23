"""A restarted owner is held until its new state arrives (core/directory/holds.py): the agents
it brings back (a node restoring them from its data directory) are never deregistered and
registered again on its peers; the agents it does not bring back go with ``owner_restarted``
about one round trip after the restart is known, as before. Virtual time only."""

from __future__ import annotations

import pytest

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.formulas import suspicion_timeout_bounds
from gossipreg.core.types import AgentRecord, AgentStatus, MemberState, RegistryEventType
from sim.cluster import Cluster, NetOptions

E = RegistryEventType
PEERS = ("n0", "n1", "n2")


def mesh() -> Cluster:
    c = Cluster(seed=3, config=NodeConfig.lan(heartbeat_timeout=None),
                net=NetOptions(model="tcp"))
    c.add_node("n0")
    for i in range(1, 4):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    return c


def records(c: Cluster, owner: str, ids: list[str]) -> list[AgentRecord]:
    node = c.node(owner)
    for aid in ids:
        node.register(make_record(aid, aid.upper(), "rt", ["python"]), c.now, wall=c.wall(owner))
    c.run_for(0.0)
    assert c.run_until_true(lambda: all(c.node(p).read.get(a) is not None
                                        for p in PEERS for a in ids), 5.0) is not None
    out = []
    for aid in ids:
        v = node.read.get(aid)
        assert v is not None
        out.append(v.record)
    return out


def since(c: Cluster, name: str, mark: int) -> list[tuple[E, str | None, str | None]]:
    return [(e.event_type, e.agent_id, e.metadata.get("cause"))
            for e in c.nodes[name].events[mark:] if e.agent_id is not None]


def restart(c: Cluster, owner: str, restored: list[AgentRecord]) -> dict[str, int]:
    """Crash-restart ``owner``, which registers ``restored`` again before anything arrives
    (as a node restoring from its data directory does before it joins)."""
    marks = {p: len(c.nodes[p].events) for p in PEERS}
    node = c.restart(owner, ["n0"])
    assert node is not None
    for r in restored:
        node.register(r, c.now, wall=c.wall(owner))
    c.drain(c.nodes[owner])
    return marks


def back_without_churn(c: Cluster, marks: dict[str, int], within: float
                       ) -> dict[str, list[tuple[E, str | None, str | None]]]:
    """Wait until every peer shows x and y ACTIVE from n3's new generation; assert no
    deregistered/registered churn on the way; the events each peer saw since ``marks``."""
    gen = c.node("n3").generation
    assert c.run_until_true(lambda: all(
        (v := c.node(p).read.get(a)) is not None and v.status is AgentStatus.ACTIVE
        and c.node(p).read.replica_state()["n3"][0] == gen for p in PEERS for a in "xy"),
        within) is not None
    out = {}
    for p in PEERS:
        evs = out[p] = since(c, p, marks[p])
        assert all(t not in (E.AGENT_DEREGISTERED, E.AGENT_REGISTERED) for t, _, _ in evs), evs
    return out


@pytest.mark.parametrize("noticed", [False, True], ids=["before-failure", "after-failure"])
def test_agents_a_restarted_owner_brings_back_stay_registered(noticed: bool) -> None:
    c = mesh()
    kept = records(c, "n3", ["x", "y"])
    c.crash("n3")
    if noticed:  # the peers held it DEAD: its agents were OFFLINE
        assert c.run_until_true(lambda: all(c.node(p).read.get("x").status  # type: ignore[union-attr]
                                            is AgentStatus.OFFLINE for p in PEERS), 30.0)
    marks = restart(c, "n3", kept)
    for evs in back_without_churn(c, marks, 5.0).values():
        if noticed:
            assert sorted(evs) == [(E.AGENT_STATUS_CHANGED, a, "owner_recovered") for a in "xy"]
    c.run_for(30.0)
    assert c.replicas_equal()


def test_agents_not_brought_back_go_as_after_any_restart() -> None:
    c = mesh()
    x, _ = records(c, "n3", ["x", "gone"])
    c.crash("n3")
    marks = restart(c, "n3", [x])
    took = c.run_until_true(lambda: all(c.node(p).read.get("gone") is None for p in PEERS), 5.0)
    assert took is not None and took < 1.0  # a round trip after the restart is known
    for p in PEERS:
        assert since(c, p, marks[p]) == [(E.AGENT_DEREGISTERED, "gone", "owner_restarted")]
        assert c.node(p).read.get("x") is not None


def test_a_restart_without_state_drops_the_old_agents_at_once() -> None:
    c = mesh()
    records(c, "n3", ["x"])
    c.crash("n3")
    marks = restart(c, "n3", [])
    took = c.run_until_true(lambda: all(c.node(p).read.get("x") is None for p in PEERS), 5.0)
    assert took is not None and took < 1.0
    for p in PEERS:
        assert (E.AGENT_DEREGISTERED, "x", "owner_restarted") in since(c, p, marks[p])


def test_a_held_owner_that_goes_silent_loses_its_old_agents() -> None:
    c = mesh()
    records(c, "n3", ["x"])
    c.crash("n3")
    marks = restart(c, "n3", [])
    c.clog("n3")  # its join went out; nothing comes back from it any more
    # Held at most the longest suspicion timeout (what failure detection would take).
    cfg = c.config
    _, longest = suspicion_timeout_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult,
                                          len(PEERS) + 1, cfg.probe_interval)
    assert c.run_until_true(lambda: all(c.node(p).read.get("x") is None for p in PEERS),
                            max(cfg.request_timeout, longest) + 5.0) is not None
    for p in PEERS:
        assert (E.AGENT_DEREGISTERED, "x", "owner_restarted") in since(c, p, marks[p])


def test_a_hold_ends_after_failure_detection_time_or_when_the_new_state_is_in() -> None:
    from gossipreg.core.directory.holds import Holds
    from gossipreg.core.membership.table import MemberTable
    from gossipreg.core.replica.store import Replica
    from gossipreg.core.types import MemberState

    members = MemberTable("me", "a0", 1, 0.0)
    members.alive("b", "a1", 1, 0, 0.0)
    replica = Replica("me", 1)
    cfg = NodeConfig(request_timeout=5.0, auto_deregister_timeout=300.0, suspicion_mult=4,
                     suspicion_max_timeout_mult=6, probe_interval=1.0)
    hold = Holds(members, replica, cfg)  # 2 members: longest suspicion 4 * 6 * 1 s = 24 s
    assert not hold.hold("b", MemberState.ALIVE, 2, None, 10.0)  # nothing of it held
    from gossipreg.core.replica.store import Write
    replica.apply_write(Write("b", 1, "agent/x", 1, False, "v", ()), 0.0)
    members.alive("b", "a1", 2, 0, 10.0)  # restarted
    assert hold.hold("b", MemberState.DEAD, 2, 250.0, 10.0)
    assert hold.state("b") == (MemberState.DEAD, -50.0)  # OFFLINE until its own expiry
    assert hold.next_deadline() == 34.0 and hold.due(33.9) == [] and not hold.caught_up()
    assert hold.due(34.0) == ["b"] and not hold
    assert hold.hold("b", MemberState.ALIVE, 2, None, 20.0)
    replica.apply_write(Write("b", 2, "agent/x", 1, False, "v", ()), 21.0)  # its new state
    assert hold.caught_up() and hold.state("b") is None


def test_a_suspicion_of_a_held_owner_keeps_the_hold() -> None:
    """A restarted process on a loaded machine is often suspected before its state arrives:
    the suspicion (and its refutation) keep the hold, so its agents do not churn."""
    c = mesh()
    kept = records(c, "n3", ["x", "y"])
    c.crash("n3")
    marks = restart(c, "n3", kept)
    c.clog("n3")  # its join went out; then its answers are lost for a while
    assert c.run_until_true(lambda: all(
        {m.node_id: m.state for m in c.node(p).read.members()}["n3"] is MemberState.SUSPECT
        for p in PEERS), 10.0) is not None
    c.unclog("n3")
    back_without_churn(c, marks, 30.0)
