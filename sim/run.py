"""One simulator run: build a cluster, run a scenario with its workload, measure, check.

Setup is a *warm start*: every node is told of every other directly (as if joins had
completed), and the agents registered on their owners reach every replica by one direct
anti-entropy delta (the state the protocol converges to), so that large clusters do not spend
the run in a join storm and a bulk gossip of the initial agents. Everything after that — the
measured phase — is the protocol under the scenario's faults and workload.

With ``workers=2`` the run is split across two processes (a fork), each running half of the
nodes: a conservative parallel simulation. Packets cross between the halves at the end of
windows of ``latency_min`` virtual seconds, which no packet can cross in less, so each half
always has every packet due to it before it gets there. Both processes play the same plan;
each applies what concerns its nodes, and the checks and figures are gathered at the end. A
run is deterministic for a given seed and number of workers.
"""

from __future__ import annotations

import gc
import mmap
import os
import pickle
import platform
import random
import signal
import statistics
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any, TextIO

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import push_pull_scale, suspicion_timeout_bounds
from gossipreg.core.records import make_record
from gossipreg.core.types import AgentStatus, MemberState, RegistryEvent, RegistryEventType
from sim.cluster import Cluster, NetOptions
from sim.scenario import Plan, plan

__all__ = ["TWO_WORKERS_SUPPORTED", "Options", "run"]

TWO_WORKERS_SUPPORTED = platform.machine().lower() in ("x86_64", "amd64") and hasattr(os, "fork")

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
    workers: int = 1

    def command(self) -> str:
        idle = " --idle" if self.idle else ""
        return (f"python -m sim run --nodes {self.nodes} --agents-per-node "
                f"{self.agents_per_node} --duration {self.duration:g} --loss {self.loss:g} "
                f"--scenario {self.scenario} --seed {self.seed} --write-rate "
                f"{self.write_rate:g} --workers {self.workers}{idle}")


@dataclass
class _Probe:
    t0: float
    target: frozenset[str]
    seen: dict[str, float] = field(default_factory=dict)


class _Tracker:
    """Follows events through ``Cluster.on_event`` without storing them all."""

    def __init__(self) -> None:
        self.probes: dict[str, _Probe] = {}
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
    for name in c.local_live():
        node = c.node(name)
        for other in names:
            if other != name:
                # In the simulator a node's address is its name.
                node.members.alive(other, other, c.nodes[other].generation, 0, c.now)
                node.swim.add_to_rotation(other)


class _Link:
    """The other worker of a two-process run.

    ``step`` runs once per window (hundreds of thousands of times), so it goes through shared
    memory: each worker writes its pickled packets into one of two slots of its own and then
    publishes a sequence number, and spins until the other's number comes. A worker writes a
    slot again only two steps later, when the other has already read it. ``swap`` (rare, large:
    the setup's deltas, the checks, the figures) goes through a pipe, worker 0 sending first.
    """

    _SLOT = 8 << 20  # bytes per slot; a bigger step travels through the pipe

    def __init__(self, conn: Connection, shared: mmap.mmap, index: int, other: int) -> None:
        self.conn = conn
        self.shared = shared
        self.index = index
        self.other = other  # the other worker's pid
        self.other_status: int | None = None  # worker 1's exit status, if it was seen to end
        self._steps = 0

    def _check_other(self) -> None:
        """Raise if the other worker is gone (or it would be waited for forever)."""
        if self.index == 0:
            pid, status = os.waitpid(self.other, os.WNOHANG)
            if pid:
                self.other_status = status
                raise RuntimeError("simulator worker 1 failed (its traceback is above)")
        elif os.getppid() != self.other:
            raise RuntimeError("simulator worker 0 is gone")

    @classmethod
    def shared_memory(cls) -> mmap.mmap:
        # Per worker: its sequence number, then two slots of (length, data).
        return mmap.mmap(-1, 2 * (8 + 2 * (8 + cls._SLOT)))

    def _base(self, worker: int) -> int:
        return worker * (8 + 2 * (8 + self._SLOT))

    def step(self, mine: Any) -> Any:
        shm, slot = self.shared, self._SLOT
        self._steps += 1
        k = self._steps
        data = pickle.dumps(mine, protocol=pickle.HIGHEST_PROTOCOL)
        at = self._base(self.index) + 8 + (k % 2) * (8 + slot)
        if len(data) <= slot:
            shm[at + 8:at + 8 + len(data)] = data
            struct.pack_into("q", shm, at, len(data))
        else:
            struct.pack_into("q", shm, at, -1)
            self.conn.send_bytes(data)
        theirs = self._base(1 - self.index)
        struct.pack_into("q", shm, self._base(self.index), k)  # publish (x86 keeps the order)
        spins = 0
        while struct.unpack_from("q", shm, theirs)[0] < k:
            spins += 1
            if spins > 2000:  # the other is slow (or the cores are shared): stop burning ours
                os.sched_yield()
                if spins % 10_000 == 0:
                    self._check_other()
        at = theirs + 8 + (k % 2) * (8 + slot)
        (n,) = struct.unpack_from("q", shm, at)
        return pickle.loads(shm[at + 8:at + 8 + n] if n >= 0 else self.conn.recv_bytes())

    def swap(self, mine: Any) -> Any:
        try:
            if self.index == 0:
                self.conn.send(mine)
                return self.conn.recv()
            theirs = self.conn.recv()
            self.conn.send(mine)
            return theirs
        except (EOFError, ConnectionError) as e:
            raise RuntimeError("the other simulator worker failed (its traceback is above)") \
                from e


def _in_shard(name: str, shard: int) -> bool:
    """Which of the two workers runs a node: a hash of its name (even, and the same in both)."""
    return zlib.crc32(name.encode()) % 2 == shard


class _Runner:
    def __init__(self, o: Options, out: TextIO, link: _Link | None = None) -> None:
        self.o = o
        self.out = out
        self.link = link
        self.cfg = NodeConfig.lan(heartbeat_timeout=None, auto_deregister_timeout=3600.0)
        net = NetOptions(loss=o.loss)
        local = None if link is None else partial(_in_shard, shard=link.index)
        self.c = Cluster(o.seed, self.cfg, net, keep_events=False, local=local)
        self.window = net.latency_min  # no packet crosses between workers faster
        self.t = _Tracker()
        self.c.on_event = self.t.on_event
        self.rng = random.Random(o.seed)
        self.names = [f"n{i}" for i in range(o.nodes)]
        self.partition: tuple[set[str], set[str]] | None = None
        self.fault_windows: list[tuple[float, float]] = []

    @property
    def lead(self) -> bool:
        """Whether this process reports (the only one, or worker 0)."""
        return self.link is None or self.link.index == 0

    def _gather(self, mine: Any) -> list[Any]:
        """Every worker's ``mine``, in worker order (the same list in each worker)."""
        if self.link is None:
            return [mine]
        theirs = self.link.swap(mine)
        return [mine, theirs] if self.link.index == 0 else [theirs, mine]

    def _advance(self, t: float) -> None:
        """``Cluster.run_until(t)``, window by window when the nodes are split."""
        c = self.c
        if self.link is None:
            c.run_until(t)
            return
        while True:
            end = min(t, c.now + self.window)
            c.run_until(end)
            c.inject(self.link.step(c.take_outbox()))
            if end >= t:
                return

    # ---------------------------------------------------------------- workload
    def _register(self, owner: str, aid: str, probe: bool) -> None:
        n = int(aid[1:])
        caps = [f"skill {n % 97}", f"domain {n % 13}"]
        self.c.node(owner).register(make_record(aid, aid.upper(), f"rt-{owner}", caps),
                                    self.c.now)
        if probe and self.partition is None:
            live = frozenset(self.c.live())
            self.t.probes[aid] = _Probe(self.c.now, live, {owner: self.c.now})
        self.c.drain(self.c.nodes[owner])

    def _work(self, who: str, r: float, seq: int) -> None:
        sn = self.c.nodes[who]
        if sn.remote or who not in self.c.live():
            return
        node = self.c.node(who)
        mine = [a for a in node.dir.own_agents() if node.get(a) is not None]
        if r < 0.4 or not mine:
            # Ids from the plan, so that every worker agrees on them.
            self._register(who, f"w{seq}", probe=True)
            return
        if r < 0.6:
            visible = list(node.dir.view.visible)
            node.set_status(self.rng.choice(visible),
                            self.rng.choice([AgentStatus.ACTIVE, AgentStatus.DEGRADED]), self.c.now)
        elif r < 0.85:
            node.heartbeat(self.rng.choice(sorted(mine)), self.c.now)
        else:
            node.deregister(self.rng.choice(sorted(mine)), self.c.now)
        self.c.drain(sn)

    # ------------------------------------------------------------------ faults
    def _apply(self, kind: str, args: tuple[str, ...], value: float, seq: int) -> None:
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
            if not c.nodes[args[0]].remote:
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
            self._work(args[0], value, seq)

    # --------------------------------------------------------------------- run
    def _progress(self, frac: float, label: str) -> None:
        if self.o.progress and self.lead:
            bar = "#" * int(frac * 30)
            print(f"\r[{bar:<30}] {frac:5.1%} {label:<40}", end="", file=sys.stderr, flush=True)

    def _summary(self) -> tuple[bool, Any, Any, Any]:
        """This worker's side of the checks: whether its live nodes agree among themselves
        (every live node ALIVE to them), and one of them's membership, replica and visible
        agents (keys and versions: an owner writes each version once) to compare across
        workers. Cheapest first: a failed check skips the rest."""
        c = self.c
        local = c.local_live()
        if not local:
            return True, None, None, None
        with _collector_off():
            first = c.node(local[0])
            running = (MemberState.ALIVE, MemberState.SUSPECT)
            members = {m.node_id: m.state for m in first.member_list() if m.state in running}
            ok = (all(members.get(n) is MemberState.ALIVE for n in c.live())
                  and c.members_agree(local) and c.replicas_equal(local))
            keys = first.dir.view.visible.keys()
            ok = ok and all(c.node(n).dir.view.visible.keys() == keys for n in local[1:])
            replica = {o: (g, {k: v for k, (v, _) in entries.items()})
                       for o, (g, entries) in first.dir.replica.live_state().items()}
            return ok, members, replica, set(keys)

    def _converged(self) -> bool:
        parts = [p for p in self._gather(self._summary()) if p[1] is not None]
        if not parts:
            return True
        _, members, replica, visible = parts[0]
        return all(p[0] and p[1] == members and p[2] == replica and p[3] == visible
                   for p in parts)

    def run(self, keep_frozen: bool) -> dict[str, Any] | None:
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
        k = o.agents_per_node
        for i, n in enumerate(self.names):
            if not c.nodes[n].remote:
                for j in range(k):
                    self._register(n, f"a{i * k + j + 1}", probe=False)
            if i % 100 == 0:
                self._progress(0.0, f"setup: agents of {i}/{len(self.names)} nodes")
        mine = {}
        for n in c.local_live():
            node = c.node(n)
            mine[n] = node.dir.replica.delta_for({}, 1 << 40)
            node.drop_pending_gossip()  # its writes are delivered below, not gossiped
        by_owner = {n: d for part in self._gather(mine) for n, d in part.items()}
        full = [od for n in self.names for od in by_owner[n]]
        local = c.local_live()
        for i, n in enumerate(local):
            node = c.node(n)
            node.dir.apply_delta(full, c.now)
            node.events.clear()  # the warm start's events: not part of the run
            if i % 100 == 0:
                self._progress(0.0, f"setup: replicating to {i}/{len(local)} nodes")

    def _measure(self, wall0: float) -> dict[str, Any] | None:
        o, c = self.o, self.c
        self._advance(c.now + 5.0)
        start = c.now
        pl: Plan = plan(o.scenario, list(self.names), o.duration, start, o.seed, o.write_rate,
                        o.loss, o.idle)
        bytes0 = {n: sn.bytes_out for n, sn in c.nodes.items() if not sn.remote}
        cats0 = self._categories()
        for a in pl.actions:
            self._advance(a.at)
            self._apply(a.kind, a.args, a.value, a.seq)
            self._progress((c.now - start) / o.duration, f"t={c.now - start:.0f}s {a.kind}")
        end = start + o.duration
        while c.now < end:
            self._advance(min(end, c.now + 5.0))
            self._progress((c.now - start) / o.duration, f"t={c.now - start:.0f}s")
        span = c.now - start
        bytes1 = {n: sn.bytes_out for n, sn in c.nodes.items() if not sn.remote}
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
            self._advance(c.now + 2.0)
            self._progress(1.0, f"settling {c.now - settle_start:.0f}s")
        if o.progress and self.lead:
            print(file=sys.stderr)
        with _collector_off():
            # Both were just found true if the run converged, at this very virtual instant.
            agree = converged_at == c.now or self._converged()
            t = self.t
            parts = self._gather((t.probes, t.registered, t.failed, t.events, bytes0, bytes1,
                                  cats0, cats1))
            if not self.lead:
                return None
            for probes, registered, failed, events, b0, b1, k0, k1 in parts[1:]:
                t.probes.update(probes)
                for aid, seen in registered.items():
                    t.registered.setdefault(aid, {}).update(seen)
                t.failed.extend(failed)
                t.events += events
                bytes0.update(b0)
                bytes1.update(b1)
                for k, v in k0.items():
                    cats0[k] = cats0.get(k, 0) + v
                for k, v in k1.items():
                    cats1[k] = cats1.get(k, 0) + v
            t.failed.sort()
            return self._report(pl, start, span, bytes0, bytes1, cats0, cats1, bound, hi,
                                converged_at, settle_start, agree, time.perf_counter() - wall0)

    def _categories(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for sn in self.c.nodes.values():
            if sn.node is not None:
                for k, v in sn.node.metrics.bytes_out_by_category.items():
                    tot[k] = tot.get(k, 0) + v
        return tot

    def _report(self, pl: Plan, start: float, span: float, b0: dict[str, int],
                b1: dict[str, int], cats0: dict[str, int], cats1: dict[str, int], bound: float,
                hi: float, converged_at: float | None, settle_start: float, agree: bool,
                wall: float) -> dict[str, Any]:
        o, c, t = self.o, self.c, self.t
        live = set(c.live())
        prop = []
        for aid, p in t.probes.items():
            targets = p.target & live
            seen = t.registered.get(aid, {})
            if targets and targets <= seen.keys():
                prop.append(max(seen[n] for n in targets) - p.t0)
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
        checks = {
            # The replicas, memberships and visible agents of all live nodes, compared once
            # the run settled (or at its end, if it did not).
            "replicas_equal": agree,
            "memberships_agree": agree,
            "converged_within_bound": converged_at is not None,
            "no_false_dead_majority": all(len(obs) <= len(live) // 2
                                          for obs in by_subject.values()),
            "registrations_seen_everywhere": agree,
        }
        return {
            "seed": o.seed,
            "nodes": o.nodes,
            "workers": o.workers,
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
            # The first verdicts themselves, to start an investigation from.
            "false_dead_verdicts": [{"t": round(w, 3), "observer": obs, "subject": subj}
                                    for w, obs, subj in sorted(false_dead)[:20]],
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
    them. With ``o.workers == 2`` half of the nodes run in a forked process."""
    if o.workers not in (1, 2):
        raise ValueError("workers must be 1 or 2")
    if o.workers == 2 and not TWO_WORKERS_SUPPORTED:
        raise ValueError("two workers need x86-64 (their shared-memory handoff relies on its "
                         "store order) and os.fork")
    if o.workers == 1:
        rep = _Runner(o, out).run(keep_frozen)
        assert rep is not None
        return rep
    ours, theirs = Pipe()
    shared = _Link.shared_memory()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # worker 1: runs its half, hands its figures over, exits
        code = 0
        try:
            ours.close()
            _Runner(o, out, _Link(theirs, shared, 1, parent)).run(keep_frozen=True)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    theirs.close()
    link = _Link(ours, shared, 0, pid)
    try:
        rep = _Runner(o, out, link).run(keep_frozen)
    except BaseException:
        if link.other_status is None:  # it would wait for us forever
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        ours.close()
    status = link.other_status
    if status is None:
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"simulator worker 1 exited with status {status}")
    assert rep is not None
    return rep
