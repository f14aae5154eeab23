"""A quiet bulk import (``import_state(quiet=True)``, the simulator's warm start) leaves a node in
the state the same deltas leave it in the usual way: same replica, visible agents, holders,
index and clock; it only queues no events."""

from __future__ import annotations

import random
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.node import Node
from gossipreg.core.replica.store import OwnerDelta
from gossipreg.core.types import AgentStatus, RegistryEvent, RegistryEventType

OWNERS = ("o1", "o2", "o3", "o4", "o5")


def _node(name: str, seed: int) -> Node:
    return Node(name, f"addr-{name}", NodeConfig.lan(), rng=random.Random(seed), now=0.0)


def _owners() -> dict[str, Node]:
    owners = {name: _node(name, i) for i, name in enumerate(OWNERS)}
    for i, (name, n) in enumerate(owners.items()):
        for j in range(6):
            aid = f"{name}-a{j}"
            caps = [f"skill {j % 3}", f"domain {i}"] if j != 5 else []
            n.register(make_record(aid, aid.upper(), f"rt-{name}", caps, tags=("t",)), 1.0 + j,
                       wall=1000.0 + j)
    # Two owners hold a record under one id (concurrent registrations): the earlier wins.
    owners["o1"].register(make_record("dup", "D1", "rt-o1", ["x"], registered_at=900.0), 2.0,
                          wall=1000.0)
    owners["o3"].register(make_record("dup", "D3", "rt-o3", ["y"], registered_at=800.0), 2.0,
                          wall=1000.0)
    owners["o1"].set_status("o1-a1", AgentStatus.DEGRADED, 3.0, wall=1003.0)
    owners["o2"].set_status("o2-a2", AgentStatus.UNHEALTHY, 3.0, wall=1003.0)
    owners["o2"].heartbeat("o2-a3", 4.0, wall=1004.0)
    owners["o2"].deregister("o2-a4", 4.0, wall=1004.0)  # a tombstone
    return owners


def _observer() -> Node:
    obs = _node("obs", 99)
    for name in OWNERS[:-1]:  # o5 is unknown here: its agents stay hidden
        obs.assume_member(name, f"addr-{name}", 1, 0.0)
    obs.members.dead("o4", 1, 0, 5.0)  # DEAD, not yet past auto-deregistration: OFFLINE
    return obs


def _deltas(owners: dict[str, Node]) -> list[OwnerDelta]:
    return [od for n in owners.values() for od in n.export_state()]


def _state(n: Node) -> dict[str, Any]:
    v, ix = n.dir.view, n.dir.view.index
    agents = {aid: (a.record, a.status, a.node, a.seq) for aid, a in ix._agents.items()}
    return {
        "replica": sorted(n.export_state(), key=lambda od: od.owner),
        "visible": v.visible, "holders": v._holders, "raters": v._raters,
        "standing": v._standing, "expiry": v._expiry, "index": agents,
        "order": ix._order, "status": ix._status_count, "by_status": ix._by_status,
        "runtimes": ix._runtime_count, "bare": ix._bare, "pending": ix._pending,
        "rank_pending": ix._rank_pending, "hlc": (n.dir.hlc._wall, n.dir.hlc._logical),
    }


def _events(n: Node) -> list[RegistryEvent]:
    out = []
    while (ev := n.poll_event()) is not None:
        out.append(ev)
    return out


def test_a_quiet_import_leaves_the_state_the_usual_import_does_without_events() -> None:
    owners = _owners()
    usual, quiet = _observer(), _observer()
    usual.import_state(_deltas(owners), 6.0, wall=1006.0)
    quiet.import_state(_deltas(owners), 6.0, wall=1006.0, quiet=True)
    assert _state(quiet) == _state(usual)
    assert quiet.dir.view.visible["dup"].node_id == "o3"
    assert quiet.dir.view.visible["o4-a0"].status is AgentStatus.OFFLINE
    assert "o5-a0" not in quiet.dir.view.visible and "o2-a4" not in quiet.dir.view.visible
    assert _events(usual) and not _events(quiet)


def test_a_quiet_import_over_a_shown_state_changes_it_as_the_usual_import_does() -> None:
    """Agents already shown take the usual derivation (a status change, a deregistration, a
    newer record) and come out the same; still nothing is queued."""
    owners = _owners()
    usual, quiet = _observer(), _observer()
    for n in (usual, quiet):
        n.import_state(_deltas(owners), 6.0, wall=1006.0)
        _events(n)
    owners["o1"].deregister("o1-a0", 7.0, wall=1007.0)
    owners["o1"].set_status("o1-a2", AgentStatus.DEGRADED, 7.0, wall=1007.0)
    owners["o2"].set_status("o2-a2", AgentStatus.ACTIVE, 7.0, wall=1007.0)
    owners["o3"].register(make_record("late", "L", "rt-o3", ["z"]), 7.0, wall=1007.0)
    owners["o3"].deregister("dup", 7.0, wall=1007.0)  # o1's record is shown instead
    usual.import_state(_deltas(owners), 8.0, wall=1008.0)
    quiet.import_state(_deltas(owners), 8.0, wall=1008.0, quiet=True)
    assert _state(quiet) == _state(usual)
    assert quiet.dir.view.visible["dup"].node_id == "o1"
    assert "o1-a0" not in quiet.dir.view.visible and "late" in quiet.dir.view.visible
    kinds = {e.event_type for e in _events(usual)}
    assert {RegistryEventType.AGENT_DEREGISTERED, RegistryEventType.AGENT_STATUS_CHANGED} <= kinds
    assert not _events(quiet)
