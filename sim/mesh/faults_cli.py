"""``python -m sim.mesh faults``: the fault schedule of :mod:`sim.mesh.faults` on emulated
hosts, gossipreg and (with ``--peer serf``) Serf side by side; prints the table, writes every
figure to ``--json``. Root, iproute2 and nftables needed (``apt-get install -y nftables
iproute2 serf``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import json
import signal
import sys
from typing import Any

from sim.mesh.drivers import ensure_serf
from sim.mesh.faults import Schedule, play
from sim.mesh.hosts import GossipregHosts, HostDriver, SerfHosts
from sim.mesh.netns import NetLab, missing
from sim.mesh.report import table

__all__ = ["add_parser", "run"]


def _log(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("faults", help="kernel and process faults on emulated hosts")
    p.add_argument("--nodes", type=int, default=12)
    p.add_argument("--peer", choices=["serf"], help="also run Serf on the same hosts")
    p.add_argument("--loss", type=float, default=0.1,
                   help="loss on every host's input during the fault steps (0..1)")
    p.add_argument("--windows", default="0.1,0.2",
                   help="loss rates of the false-failure windows, comma-separated")
    p.add_argument("--window", type=float, default=60.0, help="seconds per lossy window")
    p.add_argument("--partitions", type=int, default=5)
    p.add_argument("--kills", type=int, default=3, help="SIGKILL + restart cycles")
    p.add_argument("--hold", type=float, default=20.0, help="one-way partition, seconds")
    p.add_argument("--timeout", type=float, default=90.0, help="bound of every wait, s")
    p.add_argument("--steps", default="loss,kill,partition,oneway,isolate,stop")
    p.add_argument("--profile", default="lan", help="gossipreg's profile")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="FILE")


def _dump_tasks() -> None:
    for t in asyncio.all_tasks():
        t.print_stack(file=sys.stderr)


async def _play(lab: NetLab, sch: Schedule, args: argparse.Namespace) -> dict[str, Any]:
    # kill -USR2 <pid>: the stack of every asyncio task (where a stuck wait is waiting).
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, _dump_tasks)
    drivers: list[HostDriver] = [GossipregHosts(lab, sch.nodes, args.profile)]
    if args.peer == "serf":
        binary = ensure_serf()
        if binary is not None:
            drivers.append(SerfHosts(lab, sch.nodes, binary))
    try:
        result = await play(lab, drivers, sch, _log)
        _emit(result, args)  # before the teardown: a hang there must not lose the figures
        return result
    finally:
        for d in drivers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(d.close(), 20.0)


def _emit(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(table(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


def run(args: argparse.Namespace) -> int:
    why = missing()
    if why is not None:
        print(f"faults: cannot build emulated hosts: {why}", file=sys.stderr)
        return 2
    if args.nodes < 3:
        print("faults: --nodes must be at least 3", file=sys.stderr)
        return 2
    sch = Schedule(nodes=args.nodes, loss=args.loss,
                   windows=[float(x) for x in args.windows.split(",") if x],
                   window=args.window, partitions=args.partitions, kills=args.kills, hold=args.hold,
                   timeout=args.timeout, seed=args.seed,
                   steps=frozenset(args.steps.split(",")))
    print(f"faults: {sch.nodes} hosts, seed {sch.seed}, loss {sch.loss:.0%}", file=sys.stderr)
    # kill -USR1 <pid> prints every thread's stack: a long benchmark that seems stuck can be
    # looked at without losing it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    with NetLab(sch.nodes) as lab:
        lab.enter_hub()
        asyncio.run(_play(lab, sch, args))
    return 0
