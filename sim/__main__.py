"""``python -m sim run ...``: run one simulation and print its figures (see sim/run.py)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from sim.run import TWO_WORKERS_SUPPORTED, Options, run
from sim.scenario import SCENARIOS


def _fmt(x: Any, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim", description="gossipreg simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one scenario")
    r.add_argument("--nodes", type=int, default=20)
    r.add_argument("--agents-per-node", type=int, default=2)
    r.add_argument("--duration", type=float, default=120.0, help="virtual seconds")
    r.add_argument("--loss", type=float, default=0.0, help="packet loss probability")
    r.add_argument("--network", choices=("links", "tcp", "datagram"), default="links",
                   help="what a loss does: links (the transport nodes ship with: datagrams "
                        "lost, link and HTTP frames delayed by retransmission, a link's frames "
                        "in order), tcp (nodes offering HTTP POST only: a frame lost only past "
                        "the 2 s timeout) or datagram (every message lost alike)")
    r.add_argument("--scenario", choices=SCENARIOS, default="steady")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--write-rate", type=float, default=2.0, help="workload operations per s")
    r.add_argument("--idle", action="store_true", help="no writes and no heartbeats")
    r.add_argument("--signing", action="store_true",
                   help="nodes sign every owner write and member statement and check every "
                        "received one (a deterministic stub of Ed25519: the same checks, not "
                        "the same CPU cost)")
    r.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--workers", type=int, choices=(1, 2), default=None,
                   help="processes to split the nodes across (default: 2 from 200 nodes on "
                        "an x86-64 machine with 2 cores or more, else 1); the figures depend "
                        "on it")
    a = ap.parse_args(argv)
    if not 1 <= a.nodes <= 5000 or not 0 <= a.loss < 1 or a.duration <= 0:
        ap.error("need 1 <= --nodes <= 5000, 0 <= --loss < 1, --duration > 0")
    workers = a.workers
    if workers is None:
        workers = (2 if a.nodes >= 200 and (os.cpu_count() or 1) >= 2 and TWO_WORKERS_SUPPORTED
                   else 1)
    o = Options(a.nodes, a.agents_per_node, a.duration, a.loss, a.scenario, a.seed, a.idle,
                a.write_rate, progress=not a.quiet, workers=workers, network=a.network,
                signing=a.signing)
    print(f"seed {o.seed}: {o.nodes} nodes x {o.agents_per_node} agents, scenario {o.scenario},"
          f" {o.duration:g} s virtual, loss {o.loss:.0%} ({o.network})"
          f"{' (idle)' if o.idle else ''}{' (signing)' if o.signing else ''},"
          f" {o.workers} worker{'s' if o.workers > 1 else ''}")
    rep = run(o, keep_frozen=True)  # this process exits after the report
    for line in rep["fault_log"] or ["no faults"]:
        print(f"  fault: {line}")
    p, pr = rep["propagation_s"], rep["propagation_rounds"]
    print(f"registration propagation to all live nodes ({p['count']} samples): "
          f"p50 {_fmt(p['p50'], ' s')} p99 {_fmt(p['p99'], ' s')} max {_fmt(p['max'], ' s')}"
          f"  = rounds p50 {_fmt(pr['p50'])} p99 {_fmt(pr['p99'])} max {_fmt(pr['max'])}")
    d = rep["detection_s"]
    print(f"crash detection: first {_fmt(d['first'], ' s')}, all {_fmt(d['all'], ' s')} "
          f"(suspicion timeout {rep['suspicion_bound_s']['min']:.1f}.."
          f"{rep['suspicion_bound_s']['max']:.1f} s)")
    if rep["heal_s"]:
        heals = ", ".join(_fmt(h, " s") for h in rep["heal_s"])
        print(f"partition heal (from the heal until every live node sees every other ALIVE):"
              f" {heals}")
    print(f"false DEAD verdicts: {rep['false_dead']}")
    for v in rep["false_dead_verdicts"]:
        print(f"  t={v['t']:.3f}s {v['observer']} declared {v['subject']} DEAD")
    b = rep["bytes_per_node_per_s"]
    split = ", ".join(f"{k} {v:.0f}" for k, v in sorted(rep["bytes_split"].items()))
    print(f"bytes sent per node per s: mean {b['mean']:.0f}, max {b['max']:.0f} "
          f"(message bytes: {split})")
    paths = rep.get("frames_by_path", {})
    if sum(paths.values()):
        total = sum(paths.values())
        print("frames by path: " + ", ".join(f"{k} {v / total:.1%}" for k, v in paths.items()))
    print(f"events per node: {rep['events_per_node']:.0f}; converged "
          f"{_fmt(rep['convergence_s'], ' s')} after the last fault "
          f"(bound {rep['convergence_bound_s']:.0f} s); wall {rep['wall_s']:.1f} s")
    failed = [k for k, ok in rep["checks"].items() if not ok]
    for k, ok in rep["checks"].items():
        print(f"  check {k}: {'ok' if ok else 'FAILED'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=2, sort_keys=True)
    if failed:
        print(f"FAILED: {', '.join(failed)}; replay with: {o.command()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # A 1,000-node run leaves gigabytes of objects behind; freeing them one by one at exit
    # takes ~10 s and serves nothing: everything is written, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
