"""What the garbage collector costs a registration, and what fewer tracked objects would save.

    python -m sim.bench.registry_gc [--agents 100000] [--untrack none,rec,rec+idx,rec+idx+view]

An experiment, not a product path: each variant registers ``--agents`` agents through
``AgentRegistry.register_agent`` (embedded, events and heartbeat monitoring off, the agents of
:mod:`sim.bench.registry`), and after each call takes the named per-agent objects off the
collector's list with ``ctypes`` (``PyObject_GC_UnTrack``): ``rec`` the record, ``idx`` the
capability index's entry, ``view`` the view entry, ``entry`` the replica entry. That is what
those objects would cost if they were exact tuples of untracked items (CPython untracks only
exact tuples, never a named tuple). Prints, per variant, the CPU time of a call (the ``ctypes``
calls included), the collector's CPU time per call (``gc.callbacks``) and its full collections.
Each variant runs in a fresh process (how many full collections a run makes depends on what
the process collected before), alternately, ``--repeat`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import subprocess
import sys
import time
from typing import Any

from gossipreg.registry import AgentRegistry, AgentRegistryConfig
from sim.bench.registry import make_agents

_untrack = ctypes.pythonapi.PyObject_GC_UnTrack
_untrack.argtypes = [ctypes.py_object]
_untrack.restype = None


class _GcClock:
    """CPU time spent in collections, and how many were full ones."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.process_time()
        else:
            self.seconds += time.process_time() - self._t0
            self.full += info["generation"] == 2


async def run(n: int, what: str) -> tuple[float, float, int]:
    """(CPU seconds per call, collector CPU seconds per call, full collections)."""
    ids, agents = make_agents(n)
    reg = AgentRegistry(AgentRegistryConfig(enable_heartbeat_monitoring=False,
                                            enable_event_broadcasting=False))
    await reg.start()
    register = reg.register_agent
    core: Any = reg.node.core
    directory = core.dir
    visible, index = directory.view.visible, directory.view.index._agents
    entries = directory.replica._owners[directory.replica.self_id].entries
    parts = set(what.split("+")) - {"none"}
    clock = _GcClock()
    gc.collect()
    gc.callbacks.append(clock)
    t = time.process_time()
    try:
        for i in range(n):
            aid = await register(agents[i], f"runtime-{i % 50}", agent_id=ids[i])
            if parts:
                v = visible[aid]
                if "rec" in parts:
                    _untrack(v.record)
                if "idx" in parts:
                    _untrack(index[aid])
                if "view" in parts:
                    _untrack(v)
                if "entry" in parts:
                    _untrack(entries["agent/" + aid])
        dt = time.process_time() - t
    finally:
        gc.callbacks.remove(clock)
    await reg.shutdown()
    return dt / n, clock.seconds / n, clock.full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--untrack", default="none,rec,rec+idx,rec+idx+view")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        call, in_gc, full = asyncio.run(run(args.agents, args.untrack))
        print(f"{args.untrack:18s} call {call * 1e6:6.2f} us  gc {in_gc * 1e6:5.2f} us  "
              f"{full} full collections", flush=True)
        return
    print(f"{args.agents:,} registrations, events off; CPU time; untracked after each call "
          f"(one process each):", flush=True)
    for _ in range(args.repeat):
        for what in args.untrack.split(","):
            subprocess.run([sys.executable, "-m", "sim.bench.registry_gc", "--one",
                            "--agents", str(args.agents), "--untrack", what], check=True)


if __name__ == "__main__":
    main()
