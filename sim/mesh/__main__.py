"""``python -m sim.mesh run --nodes N [--peer serf] [--reps R] [--idle-seconds S] [--json F]``
``python -m sim.mesh faults --nodes 12 --peer serf --loss 0.1 [--json F]`` (see faults_cli.py)
``python -m sim.mesh soak --nodes 4 --minutes 20 --peer serf [--json F]`` (see soak.py)

Runs the same measurements on N real gossipreg nodes and, with ``--peer serf``, on N Serf
agents (default LAN profile; installed from Debian's package when missing), one system after
the other, each in its own network namespace when the harness runs as root (so the loopback
byte counters are that system's alone; without one the bytes figure is reported as n/a).

Measurements: join convergence (every node sees all N alive), metadata propagation (an agent
registered / a tag set on one node, seen by all), failure detection (a SIGKILLed node reported
failed by every survivor), idle CPU per node (ms of CPU per second), RSS per node, idle bytes
per second per node on loopback, and false DEAD verdicts under a 1 s SIGSTOP. For gossipreg
also (in ``raw``): a restart (kill -9, start again on the same address). Network faults (loss,
partitions, isolation) are the ``faults`` command's: kernel faults on emulated hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from sim.mesh import faults_cli, soak
from sim.mesh.drivers import GossipregDriver, SerfDriver, ensure_serf
from sim.mesh.measure import measure
from sim.mesh.procs import Children, ProcessDied

KEYS = ["join_s", "propagation_s", "detection_s", "idle_cpu_ms_per_node_per_s",
        "rss_mb_per_node", "uss_mb_per_node", "idle_bytes_per_node_per_s", "false_dead"]


def _log(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


async def _one(system: str, n: int, reps: int, idle_s: float, seed: int) -> dict[str, Any]:
    children = Children()
    driver: Any
    if system == "serf":
        binary = shutil.which("serf")
        if binary is None:
            raise SystemExit("serf is not installed")
        driver = SerfDriver(children, binary)
    else:
        driver = GossipregDriver(children)
    try:
        return await measure(driver, children, n, reps, idle_s, _log, seed)
    finally:
        await driver.close()
        children.close()


def _run_isolated(system: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one system in a child process, in a fresh network namespace if possible."""
    cmd = [sys.executable, "-m", "sim.mesh", "_one", "--system", system, "--nodes",
           str(args.nodes), "--reps", str(args.reps), "--idle-seconds", str(args.idle_seconds),
           "--seed", str(args.seed)]
    ns = None
    if not args.no_netns and os.geteuid() == 0 and shutil.which("ip"):
        ns = f"grbench-{os.getpid()}-{system}"
        if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode == 0:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
                           check=True)
            cmd = ["ip", "netns", "exec", ns, *cmd]
        else:
            ns = None
    if ns is None:
        print(f"{system}: no private network namespace; idle bytes will be n/a",
              file=sys.stderr)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                              timeout=900, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:  # the child printed why on stderr
            raise SystemExit(f"{system} measurement failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        if ns is None:
            result["idle_bytes_per_node_per_s"] = None
        return result
    finally:
        if ns is not None:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isinf(v)):
        return "n/a"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    # Every node keeps its identity key in the default directory of its name: the harness's
    # nodes get a temporary one (a restart under the same name keeps its key), not ~/.local.
    os.environ.setdefault("XDG_STATE_HOME", tempfile.mkdtemp(prefix="gossipreg-mesh-state-"))
    ap = argparse.ArgumentParser(prog="python -m sim.mesh", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    faults_cli.add_parser(sub)
    soak.add_parser(sub)
    for name in ("run", "_one"):
        p = sub.add_parser(name)
        p.add_argument("--nodes", type=int, default=8)
        p.add_argument("--reps", type=int, default=3)
        p.add_argument("--idle-seconds", type=float, default=30.0)
        p.add_argument("--seed", type=int, default=1)
        if name == "run":
            p.add_argument("--peer", choices=["serf"], help="also measure this system")
            p.add_argument("--systems", default=None,
                           help="comma list, e.g. serf (default: gossipreg[,peer])")
            p.add_argument("--json", metavar="FILE")
            p.add_argument("--no-netns", action="store_true")
        else:
            p.add_argument("--system", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "faults":
        return faults_cli.run(args)
    if args.cmd == "soak":
        return soak.run(args)
    if args.cmd == "_one":
        try:
            result = asyncio.run(_one(args.system, args.nodes, args.reps, args.idle_seconds,
                                      args.seed))
        except ProcessDied as e:
            print(f"{args.system}: {e}", file=sys.stderr, flush=True)
            return 1
        print(json.dumps(result))
        return 0
    if args.nodes < 3:
        ap.error("--nodes must be at least 3")
    systems = (args.systems.split(",") if args.systems
               else ["gossipreg"] + ([args.peer] if args.peer else []))
    results: dict[str, Any] = {}
    for system in systems:
        if system == "serf" and ensure_serf() is None:
            continue
        print(f"measuring {system} with {args.nodes} nodes...", file=sys.stderr, flush=True)
        results[system] = _run_isolated(system, args)
    print(f"\n{'N = ' + str(args.nodes):<32}" + "".join(f"{s:>12}" for s in results)
          + ("       ratio" if len(results) == 2 else ""))
    for k in KEYS:
        vals = [results[s].get(k) for s in results]
        row = f"{k:<32}" + "".join(f"{_fmt(v):>12}" for v in vals)
        if len(vals) == 2 and all(isinstance(v, int | float) for v in vals) and vals[1]:
            row += f"{vals[0] / vals[1]:>12.2f}"
        print(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nodes": args.nodes, "systems": {
                s: {k: r.get(k) for k in KEYS} for s, r in results.items()},
                "raw": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
