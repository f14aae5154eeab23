"""``python -m sim.mesh soak``: a long run under churn on emulated hosts, sampling every
process from /proc (RSS, open fds, threads) and, for gossipreg, its asyncio tasks and replica
entries (from ``/metrics``), for both systems side by side.

Churn (both systems on the same hosts, same moments): about ``rate`` writes per second over a
rolling set of ``agents`` live agents on random nodes (gossipreg: registrations,
deregistrations of the oldest, status writes; Serf: tag writes at the same rate), and every
``restart_every`` seconds a SIGKILL of a random non-stable host and its restart on the same
address. Hosts ``0 .. stable-1`` are never restarted: their series give the slopes (MB per
hour by least squares, after ``warmup`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from typing import Any

from sim.mesh.drivers import ensure_serf
from sim.mesh.hosts import GossipregHosts, HostDriver, SerfHosts
from sim.mesh.netns import NetLab, missing
from sim.mesh.procs import rss_mb

__all__ = ["add_parser", "run", "slope_per_hour"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("soak", help="long churn run; RSS, fds, threads, tasks over time")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--stable", type=int, default=2, help="hosts never restarted")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=45.0, help="writes per second")
    p.add_argument("--agents", type=int, default=200, help="live agents in the rolling set")
    p.add_argument("--restart-every", type=float, default=60.0)
    p.add_argument("--sample-every", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=300.0)
    p.add_argument("--peer", choices=["serf"])
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="gossipreg config override, e.g. tombstone_ttl=300 (harness runner)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--trace", metavar="DIR",
                   help="debug: the stable nodes count their objects by type (and with "
                        "--trace-frames run tracemalloc) and write the growth to DIR/node<i>.txt")
    p.add_argument("--trace-every", type=float, default=180.0, metavar="SECONDS")
    p.add_argument("--trace-frames", type=int, default=0,
                   help="with --trace: 0 counts objects by type only; N > 0 also runs "
                        "tracemalloc with N frames (slow under load)")
    p.add_argument("--json", metavar="FILE")


def _proc(pid: int) -> dict[str, float]:
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(x.split()[1]) for x in f if x.startswith("Threads:"))
    return {"rss_mb": rss_mb(pid), "fds": float(len(os.listdir(f"/proc/{pid}/fd"))),
            "threads": float(threads)}


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return None if den == 0 else 3600 * sum((t - mx) * (v - my) for t, v in points) / den


async def _metrics(d: GossipregHosts, i: int) -> dict[str, float]:
    async with d.session.get(f"http://{d.addr(i)}/metrics") as r:
        text = await r.text()
    out = {}
    for line in text.splitlines():
        for name in _GAUGES:
            if line.startswith(f"gossipreg_{name} "):
                out[name] = float(line.split()[1])
        if line.startswith("gossipreg_malloc_bytes{"):  # glibc's heap, MB by part
            part = line.split('"')[1]
            out[f"malloc_{part}_mb"] = float(line.split()[-1]) / 1e6
    return out


_GAUGES = ("asyncio_tasks", "replica_entries", "python_allocated_blocks", "gc_objects")
METRICS = ("rss_mb", "fds", "threads", *_GAUGES, "malloc_arena_mb", "malloc_in_use_mb",
           "malloc_free_mb", "malloc_mmap_mb")


class _Soak:
    def __init__(self, lab: NetLab, drivers: list[HostDriver], args: argparse.Namespace
                 ) -> None:
        self.lab, self.drivers, self.a = lab, drivers, args
        self.rng = random.Random(args.seed)
        self.live: dict[str, int] = {}  # gossipreg agent id -> owner host, oldest first
        self.samples: list[dict[str, Any]] = []
        self.counts = {"writes": 0, "write_errors": 0, "restarts": 0}
        self.t0 = time.monotonic()

    async def _write(self, k: int) -> None:
        n = self.a.nodes
        i = self.rng.randrange(n)
        for d in self.drivers:
            try:
                if isinstance(d, GossipregHosts):
                    op = self.rng.random()
                    if len(self.live) >= self.a.agents or (op < 0.3 and self.live):
                        aid, owner = next(iter(self.live.items()))
                        del self.live[aid]
                        await d.deregister(owner, aid)
                    elif op < 0.6 or not self.live:
                        aid = f"a{k}"
                        await d.publish(i, aid)
                        self.live[aid] = i
                    else:
                        aid = self.rng.choice(list(self.live))
                        await d.set_status(i, aid, self.rng.choice(["active", "degraded"]))
                elif isinstance(d, SerfHosts):
                    await d.set_tag(i, "w", str(k))
                self.counts["writes"] += 1
            except Exception:  # a write to a restarting node fails: counted, not fatal
                self.counts["write_errors"] += 1

    async def churn(self, end: float) -> None:
        k = 0
        period = 1.0 / self.a.rate
        next_restart = time.monotonic() + self.a.restart_every
        inflight: set[asyncio.Task[None]] = set()
        t = time.monotonic()
        while t < end:
            k += 1
            if len(inflight) < 64:  # writes overlap: the rate does not wait on round trips
                task = asyncio.create_task(self._write(k))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            else:
                self.counts["write_errors"] += 1
            if t >= next_restart and self.a.nodes > self.a.stable:
                next_restart += self.a.restart_every
                await self._restart()
            t += period
            await asyncio.sleep(max(0.0, t - time.monotonic()))
        await asyncio.gather(*inflight, return_exceptions=True)

    async def _restart(self) -> None:
        v = self.rng.randrange(self.a.stable, self.a.nodes)
        for d in self.drivers:
            d.signal(v, signal.SIGKILL)
            d.start(v, [0])
        self.live = {a: o for a, o in self.live.items() if o != v}  # its agents went with it
        self.counts["restarts"] += 1
        await asyncio.sleep(1.0)

    async def sample(self, end: float) -> None:
        while time.monotonic() < end:
            t = time.monotonic() - self.t0
            row: dict[str, Any] = {"t": t, "nodes": {}}
            for d in self.drivers:
                for i in range(self.a.nodes):
                    key = f"{d.name}/{i}"
                    try:
                        row["nodes"][key] = _proc(d.pid(i))
                        if isinstance(d, GossipregHosts):
                            row["nodes"][key].update(await _metrics(d, i))
                    except Exception:  # a node in the middle of its restart
                        continue
            self.samples.append(row)
            print(f"  … t={t:6.0f}s " + "  ".join(
                f"{k}: {v['rss_mb']:.1f}MB {v['fds']:.0f}fd {v.get('asyncio_tasks', 0):.0f}t"
                f" {v.get('replica_entries', 0):.0f}e {v.get('python_allocated_blocks', 0):.0f}b"
                f" {v.get('gc_objects', 0):.0f}o heap {v.get('malloc_arena_mb', 0):.1f}"
                f"/{v.get('malloc_in_use_mb', 0):.1f}MB" for k, v in row["nodes"].items()
                if int(k.split("/")[1]) < self.a.stable), file=sys.stderr, flush=True)
            await asyncio.sleep(self.a.sample_every)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = sorted({k for s in self.samples for k in s["nodes"]})
        for key in keys:
            if int(key.split("/")[1]) >= self.a.stable:
                continue
            series = [(s["t"], s["nodes"][key]) for s in self.samples if key in s["nodes"]]
            after = [(t, v) for t, v in series if t >= self.a.warmup]
            fig: dict[str, Any] = {}
            for metric in METRICS:
                pts = [(t, v[metric]) for t, v in after if metric in v]
                if not pts:
                    continue
                fig[metric] = {"first": series[0][1].get(metric), "last": pts[-1][1],
                               "min": min(x for _, x in pts), "max": max(x for _, x in pts),
                               "slope_per_hour": slope_per_hour(pts)}
            out[key] = fig
        return out

    async def play(self) -> dict[str, Any]:
        for d in self.drivers:
            d.start(0, [])
        await asyncio.sleep(1.0)
        for i in range(1, self.a.nodes):
            for d in self.drivers:
                d.start(i, [0])
        for d in self.drivers:
            for i in range(self.a.nodes):
                while not await d.ready(i):
                    await asyncio.sleep(0.2)
        end = time.monotonic() + self.a.minutes * 60
        await asyncio.gather(self.churn(end), self.sample(end))
        return {"args": {k: v for k, v in vars(self.a).items() if k != "func"},
                "counts": self.counts, "stable": self.summary(), "samples": self.samples}


async def _main(lab: NetLab, args: argparse.Namespace) -> dict[str, Any]:
    trace = ({i: os.path.join(args.trace, f"node{i}.txt") for i in range(args.stable)}
             if args.trace else None)
    if args.trace:
        os.makedirs(args.trace, exist_ok=True)
    drivers: list[HostDriver] = [GossipregHosts(lab, args.nodes, overrides=args.set,
                                                trace=trace, trace_every=args.trace_every,
                                                trace_frames=args.trace_frames)]
    if args.peer == "serf":
        binary = ensure_serf()
        if binary is not None:
            drivers.append(SerfHosts(lab, args.nodes, binary))
    try:
        return await _Soak(lab, drivers, args).play()
    finally:
        for d in drivers:
            await d.close()


def run(args: argparse.Namespace) -> int:
    why = missing()
    if why is not None:
        print(f"soak: cannot build emulated hosts: {why}", file=sys.stderr)
        return 2
    with NetLab(args.nodes) as lab:
        lab.enter_hub()
        result = asyncio.run(_main(lab, args))
    print(f"soak: {args.nodes} hosts, {args.minutes:.0f} min, {result['counts']}")
    print(f"{'stable node':<14}{'metric':<24}{'first':>10}{'last':>10}{'slope/h':>10}")
    for key, fig in result["stable"].items():
        for metric, v in fig.items():
            s = v["slope_per_hour"]
            print(f"{key:<14}{metric:<24}{v['first'] or 0:>10.1f}{v['last']:>10.1f}"
                  f"{'n/a' if s is None else f'{s:.1f}':>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0
