"""The simulator's workload: registrations, status writes, heartbeats and deregistrations.

Rules: every operation is chosen by the plan's draw and the workload's own seeded generator,
and only by the node's local state, so that a run replays from its seed; agent ids come from
the plan (``w<seq>``), so both workers of a parallel run agree on them. Registrations made
while the cluster is whole are followed to every live node (the propagation figure).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from gossipreg.core.directory.records import make_record
from gossipreg.core.types import AgentStatus, RegistryEvent, RegistryEventType
from sim.cluster import Cluster

__all__ = ["Probe", "Tracker", "Workload"]

E = RegistryEventType


@dataclass
class Probe:
    """A registration followed to the nodes that were live when it was made."""

    t0: float
    target: frozenset[str]
    seen: dict[str, float] = field(default_factory=dict)


class Tracker:
    """Follows events through ``Cluster.on_event`` without storing them all."""

    def __init__(self) -> None:
        self.probes: dict[str, Probe] = {}
        # When each node first showed each agent registered during the measured phase (with
        # workers, the registering node and the observers can be in different processes).
        self.registered: dict[str, dict[str, float]] = {}
        self.failed: list[tuple[float, str, str, str]] = []  # (t, observer, subject, source)
        self.events = 0

    def on_event(self, node: str, ev: RegistryEvent, now: float) -> None:
        self.events += 1
        if ev.event_type is E.AGENT_REGISTERED:
            self.registered.setdefault(ev.agent_id or "", {}).setdefault(node, now)
        elif ev.event_type is E.MEMBER_FAILED:
            self.failed.append((now, node, ev.metadata["node_id"],
                                str(ev.metadata.get("source", ""))))


class Workload:
    """Runs workload operations against ``cluster``'s nodes."""

    def __init__(self, cluster: Cluster, tracker: Tracker, rng: random.Random,
                 partitioned: Callable[[], bool]) -> None:
        self.c = cluster
        self.t = tracker
        self.rng = rng
        self.partitioned = partitioned

    def register(self, owner: str, aid: str, probe: bool) -> None:
        c = self.c
        n = int(aid[1:])
        caps = [f"skill {n % 97}", f"domain {n % 13}"]
        c.node(owner).register(make_record(aid, aid.upper(), f"rt-{owner}", caps), c.now,
                               wall=c.wall(owner))
        if probe and not self.partitioned():
            self.t.probes[aid] = Probe(c.now, frozenset(c.live()), {owner: c.now})
        c.drain(c.nodes[owner])

    def work(self, who: str, draw: float, seq: int) -> None:
        """One operation by ``who``: register (40%), a status write about any visible agent
        (20%), a heartbeat (25%) or a deregistration (15%) of one of its own agents."""
        c = self.c
        sn = c.nodes[who]
        if sn.remote or who not in c.live():
            return
        read = c.node(who).read
        mine = [a for a in read.own_agents() if read.get(a) is not None]
        if draw < 0.4 or not mine:
            self.register(who, f"w{seq}", probe=True)
            return
        node, wall = c.node(who), sn.wall(c.now)
        if draw < 0.6:
            node.set_status(self.rng.choice(list(read.visible)),
                            self.rng.choice([AgentStatus.ACTIVE, AgentStatus.DEGRADED]), c.now,
                            wall=wall)
        elif draw < 0.85:
            node.heartbeat(self.rng.choice(sorted(mine)), c.now, wall=wall)
        else:
            node.deregister(self.rng.choice(sorted(mine)), c.now, wall=wall)
        c.drain(sn)
