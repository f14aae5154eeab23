"""One simulator run: build a cluster, run a scenario with its workload, measure, check.

Setup is a *warm start*: every node is told of every other directly (as if joins had
completed), and the agents registered on their owners reach every replica by one direct
anti-entropy delta (the state the protocol converges to), so that large clusters do not spend
the run in a join storm and a bulk gossip of the initial agents. Everything after that — the
measured phase — is the protocol under the scenario's faults and workload.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import push_pull_scale, suspicion_timeout_bounds
from gossipreg.core.records import make_record
from gossipreg.core.types import AgentStatus, MemberState, RegistryEvent, RegistryEventType
from sim.cluster import Cluster, NetOptions
from sim.scenario import Plan, plan

__all__ = ["Options", "run"]

E = RegistryEventType


@dataclass
class Options:
    """What to run. Times are virtual seconds."""

    nodes: int = 20
    agents_per_node: int = 2
    duration: float = 120.0
    loss: float = 0.0
    scenario: str = "steady"
    seed: int = 1
    idle: bool = False
    write_rate: float = 2.0
    progress: bool = False

    def command(self) -> str:
        idle = " --idle" if self.idle else ""
        return (f"python -m sim run --nodes {self.nodes} --agents-per-node "
                f"{self.agents_per_node} --duration {self.duration:g} --loss {self.loss:g} "
                f"--scenario {self.scenario} --seed {self.seed} --write-rate "
                f"{self.write_rate:g}{idle}")


@dataclass
class _Probe:
    t0: float
    target: frozenset[str]
    seen: dict[str, float] = field(default_factory=dict)


class _Tracker:
    """Follows events through ``Cluster.on_event`` without storing them all."""

    def __init__(self) -> None:
        self.probes: dict[str, _Probe] = {}
        self.failed: list[tuple[float, str, str, str]] = []  # (t, observer, subject, source)
        self.events = 0

    def on_event(self, node: str, ev: RegistryEvent, now: float) -> None:
        self.events += 1
        if ev.event_type is E.AGENT_REGISTERED:
            p = self.probes.get(ev.agent_id or "")
            if p is not None and node in p.target and node not in p.seen:
                p.seen[node] = now
        elif ev.event_type is E.MEMBER_FAILED:
            self.failed.append((now, node, ev.metadata["node_id"],
                                str(ev.metadata.get("source", ""))))


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


@contextmanager
def _collector_off() -> Iterator[None]:
    """No cyclic garbage collection, for phases that build many live objects and no cycles
    (the setup, the checks): the collector's passes would find nothing and cost much."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _warm_start(c: Cluster, names: list[str]) -> None:
    for name in names:
        node = c.node(name)
        for other in names:
            if other != name:
                o = c.node(other)
                node.members.alive(other, o.addr, o.generation, 0, c.now)
                node.swim.add_to_rotation(other)


class _Runner:
    def __init__(self, o: Options, out: TextIO) -> None:
        self.o = o
        self.out = out
        self.cfg = NodeConfig.lan(heartbeat_timeout=None, auto_deregister_timeout=3600.0)
        self.c = Cluster(o.seed, self.cfg, NetOptions(loss=o.loss), keep_events=False)
        self.t = _Tracker()
        self.c.on_event = self.t.on_event
        self.rng = random.Random(o.seed)
        self.names = [f"n{i}" for i in range(o.nodes)]
        self.agent_seq = 0
        self.partition: tuple[set[str], set[str]] | None = None
        self.fault_windows: list[tuple[float, float]] = []

    # ---------------------------------------------------------------- workload
    def _register(self, owner: str, probe: bool) -> None:
        self.agent_seq += 1
        aid = f"a{self.agent_seq}"
        caps = [f"skill {self.agent_seq % 97}", f"domain {self.agent_seq % 13}"]
        self.c.node(owner).register(make_record(aid, aid.upper(), f"rt-{owner}", caps),
                                    self.c.now)
        if probe and self.partition is None:
            live = frozenset(self.c.live())
            self.t.probes[aid] = _Probe(self.c.now, live, {owner: self.c.now})
        self.c.drain(self.c.nodes[owner])

    def _work(self, who: str, r: float) -> None:
        if who not in self.c.live():
            return
        node = self.c.node(who)
        mine = [a for a in node.dir.own_agents() if node.get(a) is not None]
        if r < 0.4 or not mine:
            self._register(who, probe=True)
            return
        if r < 0.6:
            visible = list(node.dir.view.visible)
            node.set_status(self.rng.choice(visible),
                            self.rng.choice([AgentStatus.ACTIVE, AgentStatus.DEGRADED]), self.c.now)
        elif r < 0.85:
            node.heartbeat(self.rng.choice(sorted(mine)), self.c.now)
        else:
            node.deregister(self.rng.choice(sorted(mine)), self.c.now)
        self.c.drain(self.c.nodes[who])

    # ------------------------------------------------------------------ faults
    def _apply(self, kind: str, args: tuple[str, ...], value: float) -> None:
        c = self.c
        if kind == "crash":
            c.crash(args[0])
        elif kind == "partition":
            half = int(value)
            a, b = set(args[:half]), set(self.names) - set(args[:half])
            self.partition = (a, b)
            self.fault_windows.append((c.now, float("inf")))
            c.partition(a, b)
        elif kind == "repair":
            self.partition = None
            start, _ = self.fault_windows.pop()
            self.fault_windows.append((start, c.now))
            c.repair()
        elif kind == "leave":
            c.leave(args[0])
            c.crash(args[0])  # a left process exits
        elif kind == "join":
            self.names.append(args[0])
            c.add_node(args[0], ["n0"])
        elif kind == "loss":
            c.net.loss = value
        elif kind == "pause":
            c.pause(args[0])
        elif kind == "resume":
            c.resume(args[0])
        elif kind == "work":
            self._work(args[0], value)

    # --------------------------------------------------------------------- run
    def _progress(self, frac: float, label: str) -> None:
        if self.o.progress:
            bar = "#" * int(frac * 30)
            print(f"\r[{bar:<30}] {frac:5.1%} {label:<40}", end="", file=sys.stderr, flush=True)

    def _converged(self) -> bool:
        live = self.c.live()
        if not live:
            return True
        with _collector_off():
            if not self.c.members_agree(live):
                return False
            view = self.c.member_view(live[0])
            if any(view.get(n) is not MemberState.ALIVE for n in live):
                return False
            return self.c.replicas_equal(live)

    def run(self, keep_frozen: bool) -> dict[str, Any]:
        wall0 = time.perf_counter()
        with _collector_off():
            self._setup()
            # The setup's N x N x K copies of the agents live to the end of the run: keep the
            # collector's full passes off them, or those passes cost as much as the simulation
            # itself (45% of a 1,000 x 10 run's wall time).
            gc.freeze()
        try:
            return self._measure(wall0)
        finally:
            if not keep_frozen:
                gc.unfreeze()

    def _setup(self) -> None:
        o, c = self.o, self.c
        for name in self.names:
            c.add_node(name)
        _warm_start(c, self.names)
        # Warm directory start too: agents are registered on their owners, then every replica
        # receives all owners' state by one direct anti-entropy delta (what the slow path would
        # converge to), instead of 10^6+ gossip deliveries before anything is measured.
        for i, n in enumerate(self.names):
            for _ in range(o.agents_per_node):
                self._register(n, probe=False)
            if i % 100 == 0:
                self._progress(0.0, f"setup: agents of {i}/{len(self.names)} nodes")
        full = []
        for n in self.names:
            node = c.node(n)
            full.extend(node.dir.replica.delta_for({}, 1 << 40))
            node.drop_pending_gossip()  # its writes are delivered below, not gossiped
        for i, n in enumerate(self.names):
            node = c.node(n)
            node.dir.apply_delta(full, c.now)
            while node.poll_event() is not None:
                pass
            if i % 100 == 0:
                self._progress(0.0, f"setup: replicating to {i}/{len(self.names)} nodes")

    def _measure(self, wall0: float) -> dict[str, Any]:
        o, c = self.o, self.c
        c.run_for(5.0)
        start = c.now
        pl: Plan = plan(o.scenario, list(self.names), o.duration, start, o.seed, o.write_rate,
                        o.loss, o.idle)
        bytes0 = {n: sn.bytes_out for n, sn in c.nodes.items()}
        cats0 = self._categories()
        for a in pl.actions:
            c.run_until(a.at)
            self._apply(a.kind, a.args, a.value)
            self._progress((c.now - start) / o.duration, f"t={c.now - start:.0f}s {a.kind}")
        end = start + o.duration
        while c.now < end:
            c.run_until(min(end, c.now + 5.0))
            self._progress((c.now - start) / o.duration, f"t={c.now - start:.0f}s")
        span = c.now - start
        bytes1 = {n: sn.bytes_out for n, sn in c.nodes.items()}
        cats1 = self._categories()
        # Settle: how long after the last fault until everything agrees again.
        n_live = len(c.live())
        _, hi = suspicion_timeout_bounds(self.cfg.suspicion_mult,
                                          self.cfg.suspicion_max_timeout_mult, n_live,
                                          self.cfg.probe_interval)
        bound = (self.cfg.reconnect_interval + push_pull_scale(self.cfg.push_pull_interval,
                                                               n_live) + hi + 10.0)
        # Writes go on until the end, so that is the earliest everything can agree.
        settle_start = max(pl.last_fault, c.now)
        converged_at = None
        while c.now <= settle_start + bound:
            if self._converged():
                converged_at = c.now
                break
            c.run_for(2.0)
            self._progress(1.0, f"settling {c.now - settle_start:.0f}s")
        if o.progress:
            print(file=sys.stderr)
        with _collector_off():
            return self._report(pl, start, span, bytes0, bytes1, cats0, cats1, bound, hi,
                                converged_at, settle_start, time.perf_counter() - wall0)

    def _categories(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for sn in self.c.nodes.values():
            if sn.node is not None:
                for k, v in sn.node.metrics.bytes_out_by_category.items():
                    tot[k] = tot.get(k, 0) + v
        return tot

    def _report(self, pl: Plan, start: float, span: float, b0: dict[str, int],
                b1: dict[str, int], cats0: dict[str, int], cats1: dict[str, int], bound: float,
                hi: float, converged_at: float | None, settle_start: float,
                wall: float) -> dict[str, Any]:
        o, c, t = self.o, self.c, self.t
        live = set(c.live())
        prop = []
        for p in t.probes.values():
            targets = p.target & live
            if targets and targets <= set(p.seen):
                prop.append(max(p.seen[n] for n in targets) - p.t0)
        gi = self.cfg.gossip_interval
        det_first = det_all = None
        crashed = [a for a in pl.actions if a.kind == "crash"]
        if crashed:
            victim, t_c = crashed[0].args[0], crashed[0].at
            firsts: dict[str, float] = {}
            for when, obs, subj, _ in t.failed:
                if subj == victim and obs not in firsts:
                    firsts[obs] = when
            if firsts:
                det_first = min(firsts.values()) - t_c
                observers = live - {victim}
                if observers <= set(firsts):
                    det_all = max(firsts[x] for x in observers) - t_c
        false_dead = []
        for when, obs, subj, _ in t.failed:
            if subj in pl.faulty:
                continue
            if any(s <= when <= e + hi for s, e in self.fault_windows):
                continue  # a partition: both sides are right to see the other as DEAD
            false_dead.append((when, obs, subj))
        by_subject: dict[str, set[str]] = {}
        for _, obs, subj in false_dead:
            by_subject.setdefault(subj, set()).add(obs)
        per_node = [(b1.get(n, 0) - b0.get(n, 0)) / span for n in b1] if span > 0 else [0.0]
        n_count = max(1, len(b1))
        split = {k: (cats1.get(k, 0) - cats0.get(k, 0)) / n_count / span for k in cats1}
        # Key views compare as sets without copying (1,000 copies of 10,000 ids add up).
        visible = [c.node(n).dir.view.visible.keys() for n in sorted(live)]
        checks = {
            # Both were just found true if the run converged, at this very virtual instant
            # (a comparison of 1,000 replicas of 10,000 agents takes seconds).
            "replicas_equal": converged_at == c.now or c.replicas_equal(sorted(live)),
            "memberships_agree": converged_at == c.now or c.members_agree(sorted(live)),
            "converged_within_bound": converged_at is not None,
            "no_false_dead_majority": all(len(obs) <= len(live) // 2
                                          for obs in by_subject.values()),
            "registrations_seen_everywhere": all(v == visible[0] for v in visible),
        }
        return {
            "seed": o.seed,
            "nodes": o.nodes,
            "scenario": o.scenario,
            "agents_per_node": o.agents_per_node,
            "duration_s": o.duration,
            "loss": o.loss,
            "idle": o.idle,
            "fault_log": pl.fault_log,
            "propagation_s": {"p50": _pct(prop, 0.5), "p99": _pct(prop, 0.99),
                              "max": max(prop) if prop else float("nan"), "count": len(prop)},
            "propagation_rounds": {"p50": _pct(prop, 0.5) / gi, "p99": _pct(prop, 0.99) / gi,
                                   "max": (max(prop) if prop else float("nan")) / gi},
            "detection_s": {"first": det_first, "all": det_all},
            "suspicion_bound_s": dict(zip(("min", "max"), suspicion_timeout_bounds(
                self.cfg.suspicion_mult, self.cfg.suspicion_max_timeout_mult, len(live),
                self.cfg.probe_interval), strict=True)),
            "false_dead": len(false_dead),
            "bytes_per_node_per_s": {"mean": statistics.mean(per_node), "max": max(per_node)},
            "bytes_split": split,
            "events_per_node": t.events / max(1, len(c.nodes)),
            "convergence_s": None if converged_at is None else converged_at - settle_start,
            "convergence_bound_s": bound,
            "wall_s": wall,
            "checks": checks,
        }


def run(o: Options, out: TextIO = sys.stdout, *, keep_frozen: bool = False) -> dict[str, Any]:
    """Run the simulation described by ``o`` and return its report. ``keep_frozen`` leaves the
    run's objects out of the garbage collector's reach afterwards, for a process that exits
    next (a full pass over a 1,000-node heap takes ~15 s); reference counting still frees
    them."""
    return _Runner(o, out).run(keep_frozen)
