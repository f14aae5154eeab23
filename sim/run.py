"""One simulator run: build a cluster, run a scenario with its workload, measure, check.

Setup is a *warm start*: every node is told of every other directly (as if joins had
completed), and the agents registered on their owners reach every replica by one direct
anti-entropy delta (the state the protocol converges to), so that large clusters do not spend
the run in a join storm and a bulk gossip of the initial agents. Everything after that — the
measured phase — is the protocol under the scenario's faults and workload.

The pieces: ``sim.scenario`` plans the run, ``sim.faults`` applies its faults,
``sim.workload`` its operations, ``sim.checks`` answers whether the nodes agree,
``sim.report`` turns what was measured into figures, and ``sim.link`` splits a run across two
processes (``workers=2``: half of the nodes in a fork, a conservative parallel simulation; a
run is deterministic for a given seed and number of workers).
"""

from __future__ import annotations

import gc
import os
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from functools import partial
from multiprocessing import Pipe
from typing import Any, TextIO

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import convergence_bound, push_pull_scale, suspicion_timeout_bounds
from gossipreg.core.types import MemberState
from gossipreg.core.wire.tags import FEATURES
from sim.checks import Checks, collector_off, combine, summarise
from sim.cluster import Cluster, NetOptions
from sim.faults import Heal, Nemesis
from sim.link import TWO_WORKERS_SUPPORTED, ParallelLink, in_shard
from sim.report import Measured, build
from sim.scenario import Plan, Work, plan
from sim.workload import Tracker, Workload

__all__ = ["TWO_WORKERS_SUPPORTED", "Options", "run"]

# How often (virtual seconds) a healed partition is looked at until every member is ALIVE.
HEAL_SAMPLE_S = 0.1
# The cyclic garbage collector is off for the whole run (see _Runner.run), the measured phase
# included. At 1,000 nodes (flaky, 35 virtual s, two workers) its passes in the measured phase
# cost each worker 1.0-1.1 s (97 passes of a 10,000-object young generation, ~9 ms each, while
# the other worker waited), and no phase leaves garbage in cycles (a full pass after each
# collected 0 objects, in flaky, crash and churn runs of 200 nodes): reference counting frees
# everything.

# A two-worker run's sub-window, as a share of the lookahead (see sim.link): a worker may
# then run one sub-window ahead of the other. Just under a half, so that the other's clock two
# sub-windows back clears the wait by a margin that float sums do not eat. At 1,000 nodes
# (flaky, 20 s) each worker waited 7.2-7.5 s of a 34.6 s measured phase with lockstep windows,
# 5.2-6.4 s of 32 s with these; a quarter (0.245) did no better (34.3 s).
SUB_WINDOW = 0.49


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
    network: str = "links"  # what loss does: see sim.cluster (links | tcp | datagram)
    signing: bool = False  # nodes sign (a deterministic stub of Ed25519) and check signatures

    def command(self) -> str:
        idle = (" --idle" if self.idle else "") + (" --signing" if self.signing else "")
        return (f"python -m sim run --nodes {self.nodes} --agents-per-node "
                f"{self.agents_per_node} --duration {self.duration:g} --loss {self.loss:g} "
                f"--scenario {self.scenario} --seed {self.seed} --write-rate "
                f"{self.write_rate:g} --workers {self.workers} --network {self.network}{idle}")


def _warm_start(c: Cluster, names: list[str]) -> None:
    for name in c.local_live():
        node = c.node(name)
        for other in names:
            if other != name:
                # In the simulator a node's address is its name; its features are what the
                # joins would have exchanged (this release's and its transport's paths).
                key = c.identity(other).signer.public_key if c.signing else None
                node.assume_member(other, other, c.nodes[other].generation, c.now, key,
                                   int(FEATURES) | c.offers)


class _Runner:
    def __init__(self, o: Options, out: TextIO, link: ParallelLink | None = None) -> None:
        self.o = o
        self.out = out
        self.link = link
        self.cfg = NodeConfig.lan(heartbeat_timeout=None, auto_deregister_timeout=3600.0)
        net = NetOptions(loss=o.loss, model=o.network)
        local = None if link is None else partial(in_shard, shard=link.index)
        self.c = Cluster(o.seed, self.cfg, net, keep_events=False, local=local,
                         signing=o.signing)
        self.window = net.latency_min  # no packet crosses between workers faster
        self.t = Tracker()
        self.c.on_event = self.t.on_event
        self.names = [f"n{i}" for i in range(o.nodes)]
        self.nemesis = Nemesis(self.c, self.names)
        self.work = Workload(self.c, self.t, random.Random(o.seed),
                             lambda: self.nemesis.partitioned)
        self.heals: list[tuple[float, float | None]] = []  # (healed at, all ALIVE at)

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
        """``Cluster.run_until(t)``, window by window when the nodes are split; a healed
        partition is watched on the way until every member is ALIVE to every other."""
        c = self.c
        while self.heals and self.heals[-1][1] is None and c.now < t:
            self._advance_plain(min(t, c.now + HEAL_SAMPLE_S))
            if self._all_alive():
                self.heals[-1] = (self.heals[-1][0], c.now)
        self._advance_plain(t)

    def _advance_plain(self, t: float) -> None:
        c = self.c
        if self.link is None:
            c.run_until(t)
            return
        link, sub = self.link, self.window * SUB_WINDOW
        while True:
            start = c.now
            end = min(t, start + sub)
            c.inject(link.due(end))  # all that can arrive by ``end``
            c.run_until(end)
            link.publish(start, end, c.take_outbox())
            if end >= t:
                return

    def _all_alive(self) -> bool:
        """Whether every live node sees every live node ALIVE (counts first: cheap)."""
        c = self.c
        live = c.live()
        want = len(live)
        ok = True
        for n in c.local_live():
            counts = c.node(n).read.stats().member_counts
            if counts[MemberState.ALIVE] != want or counts[MemberState.SUSPECT]:
                ok = False
                break
        if ok:
            names = set(live)
            ok = all({m.node_id for m in c.node(n).read.members()
                      if m.state is MemberState.ALIVE} == names for n in c.local_live())
        return all(self._gather(ok))

    def _checks(self) -> Checks:
        return combine(self._gather(summarise(self.c)))

    # --------------------------------------------------------------------- run
    def _progress(self, frac: float, label: str) -> None:
        if self.o.progress and self.lead:
            bar = "#" * int(frac * 30)
            print(f"\r[{bar:<30}] {frac:5.1%} {label:<40}", end="", file=sys.stderr, flush=True)

    def run(self, keep_frozen: bool) -> dict[str, Any] | None:
        wall0 = time.perf_counter()
        with collector_off():  # the whole run (see the note on the collector above)
            self._setup()
            # The setup's N x N x K copies of the agents live to the end of the run: keep any
            # later full pass off them (one cost as much as the simulation itself: 45% of a
            # 1,000 x 10 run's wall time, when the collector ran).
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
                    self.work.register(n, f"a{i * k + j + 1}", probe=False)
            if i % 100 == 0:
                self._progress(0.0, f"setup: agents of {i}/{len(self.names)} nodes")
        mine = {}
        for n in c.local_live():
            node = c.node(n)
            mine[n] = node.export_state()
            node.drop_pending_gossip()  # its writes are delivered below, not gossiped
        by_owner = {n: d for part in self._gather(mine) for n, d in part.items()}
        full = [od for n in self.names for od in by_owner[n]]
        local = c.local_live()
        for i, n in enumerate(local):
            node = c.node(n)
            node.import_state(full, c.now, wall=c.wall(n), quiet=True)  # makes no events
            node.drop_pending_events()  # (any the registrations queued: not part of the run)
            if i % 100 == 0:
                self._progress(0.0, f"setup: replicating to {i}/{len(local)} nodes")

    def _measure(self, wall0: float) -> dict[str, Any] | None:
        o, c = self.o, self.c
        if self.link is not None:
            self.link.start(c.now, self.window)
        self._advance(c.now + 5.0)
        start = c.now
        pl: Plan = plan(o.scenario, list(self.names), o.duration, start, o.seed, o.write_rate,
                        o.loss, o.idle)
        bytes0 = {n: sn.bytes_out for n, sn in c.nodes.items() if not sn.remote}
        cats0 = self._categories()
        for a in pl.actions:
            self._advance(a.at)
            if isinstance(a.op, Work):
                self.work.work(a.op.node, a.op.draw, a.seq)
            else:
                self.nemesis.apply(a.op)
                if isinstance(a.op, Heal):
                    self.heals.append((c.now, None))
            self._progress((c.now - start) / o.duration, f"t={c.now - start:.0f}s {a.label}")
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
        bound = convergence_bound(self.cfg.reconnect_interval,
                                  push_pull_scale(self.cfg.push_pull_interval, n_live), hi)
        # Writes go on until the end, so that is the earliest everything can agree.
        settle_start = max(pl.last_fault, c.now)
        converged_at = None
        checks = self._checks()
        while c.now <= settle_start + bound:
            if checks.all:
                converged_at = c.now
                break
            self._advance(c.now + 2.0)
            checks = self._checks()
            self._progress(1.0, f"settling {c.now - settle_start:.0f}s")
        if o.progress and self.lead:
            print(file=sys.stderr)
        t = self.t
        paths = list(c.links.by_path) if c.links is not None else [0, 0, 0]
        parts = self._gather((t.probes, t.registered, t.failed, t.events, bytes0, bytes1,
                              cats0, cats1, paths))
        if not self.lead:
            return None
        for probes, registered, failed, events, b0, b1, k0, k1, p in parts[1:]:
            paths = [a + b for a, b in zip(paths, p, strict=True)]
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
        m = Measured(start, span, set(c.live()), len(c.nodes), bytes0, bytes1, cats0,
                     cats1, bound, converged_at, settle_start, checks, self.heals,
                     time.perf_counter() - wall0, tuple(paths))
        return build(o, self.cfg, pl, t, self.nemesis, m)

    def _categories(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for sn in self.c.nodes.values():
            if sn.node is not None:
                for k, v in sn.node.read.metrics().bytes_out_by_category.items():
                    tot[k] = tot.get(k, 0) + v
        return tot


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
    shared = ParallelLink.shared_memory()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # worker 1: runs its half, hands its figures over, exits
        code = 0
        try:
            ours.close()
            _Runner(o, out, ParallelLink(theirs, shared, 1, parent)).run(keep_frozen=True)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    theirs.close()
    link = ParallelLink(ours, shared, 0, pid)
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
