"""The kaizen facade against kaizen itself: the same calls on both registries in one process.

    python -m sim.bench.registry [--agents 100000] [--rounds 3] [--reps 7] [--no-memory]

Installs nothing. When kailash-kaizen 2.2.1 is importable (``pip install
"kailash-kaizen==2.2.1" "kailash==2.1.0" Pillow numpy anyio cryptography websockets aiosqlite
structlog prometheus_client opentelemetry-exporter-otlp-proto-grpc``: modules kaizen imports
without declaring them), it is the baseline; otherwise a kaizen-semantics linear scan
(:mod:`sim.bench.kaizen_scan`) stands in, and the output says so.

Every agent declares ``unique-<i>`` and ``group-<i % 10>``; 14.4% also declare a phrase that
contains "python code". One agent of group 7 is set DEGRADED. The table: the registration rate
(``register_agent`` through the public API, events and heartbeat monitoring off on both) of the
calls alone, and of the calls with a first read after them (``get_agent``: gossipreg applies the
registrations it kept pending at the first read, or the next turn of the event loop), then
``find_agents_by_capability`` with one hit, a 10,000-hit group, "PYTHON CODE" with
``status_filter=None`` (14,400 hits), one DEGRADED hit among 10,000 candidates, "" (every
ACTIVE agent) and a miss; each answer is checked to be the same set of ids on both. Then the
registration rate with events on against kaizen with events on (a listener on
AGENT_REGISTERED on both), and memory per agent by ``tracemalloc`` before and after the
registrations (the agent objects are made before; both registries keep them).

Times are CPU seconds of this process (``time.process_time``: other processes on a shared
machine do not count), the median of ``--reps`` repetitions (of ``--rounds`` for
registrations), with the spread (max - min) / median. Ratios are kaizen's time over
gossipreg's (above 1: gossipreg is faster); for rates, gossipreg's rate over kaizen's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import gossipreg.registry as gossip

PYTHON_PHRASES = ("python code", "Python code generation", "python code review tools")


@dataclass
class Side:
    """One registry implementation under test."""

    name: str
    mod: Any  # the module with AgentRegistry, AgentRegistryConfig, AgentStatus, ...

    def config(self, events: bool) -> Any:
        return self.mod.AgentRegistryConfig(enable_heartbeat_monitoring=False,
                                            enable_event_broadcasting=events)

    def status(self, value: str | None) -> Any:
        return None if value is None else self.mod.AgentStatus(value)


def load_kaizen() -> tuple[ModuleType | None, str]:
    """kaizen's registry module, or None and why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            import kaizen.orchestration.registry as kz
    except Exception as e:  # a missing undeclared dependency raises anything
        return None, f"{type(e).__name__}: {e}"
    finally:
        logging.disable(logging.NOTSET)
    return kz, "kailash-kaizen " + _version("kailash-kaizen") + ", kailash " + _version("kailash")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def make_agents(n: int) -> tuple[list[str], list[SimpleNamespace]]:
    ids, agents = [], []
    for i in range(n):
        caps = [f"unique-{i:06d}", f"group-{i % 10}"]
        if i % 125 < 18:
            caps.append(PYTHON_PHRASES[i % 3])
        ids.append(f"agent-{i:06d}")
        agents.append(SimpleNamespace(agent_id=None, name=f"Agent {i}",
                                      _a2a_card={"capabilities": caps}))
    return ids, agents


def queries(n: int) -> list[tuple[str, str, str | None]]:
    """(label, capability, status value) in the issue's order."""
    return [
        ("1 hit", f"unique-{n // 2:06d}", "active"),
        (f"{n // 10:,}-hit group", "group-3", "active"),
        ("'PYTHON CODE', any status", "PYTHON CODE", None),
        ("DEGRADED, 1 of group-7", "group-7", "degraded"),
        ("'' (all ACTIVE)", "", "active"),
        ("miss", "no-such-capability", "active"),
    ]


def spread(xs: list[float]) -> float:
    m = statistics.median(xs)
    return (max(xs) - min(xs)) / m if m else 0.0


async def register_all(side: Side, ids: list[str], agents: list[SimpleNamespace],
                       events: bool, listen: bool = False) -> tuple[Any, float, float, int]:
    """A started registry with every agent; CPU seconds of the registration calls alone
    (with ``listen``: and of delivering their events to a listener), then of the calls and a
    first read (``get_agent`` of the last agent: gossipreg applies the registrations it kept
    pending there, at the latest); events the listener got."""
    got = [0]

    def on_registered(ev: Any) -> None:
        got[0] += 1

    reg = side.mod.AgentRegistry(side.config(events))
    await reg.start()
    if listen:
        reg.subscribe(side.mod.RegistryEventType.AGENT_REGISTERED, on_registered)
    register = reg.register_agent
    t0 = time.process_time()
    for i, aid in enumerate(ids):
        await register(agents[i], f"runtime-{i % 50}", agent_id=aid)
    if listen:  # until the listener has had what it will get (kaizen's broadcaster drains
        # event_queue; gossipreg's reads its node's stream, event_queue is get_event's)
        drained = (lambda: True) if side.mod is gossip else reg.event_queue.empty
        last, still = -1, 0
        while still < 5 or not drained():
            still = still + 1 if got[0] == last else 0
            last = got[0]
            await asyncio.sleep(0.001)
    cpu = time.process_time() - t0
    assert await reg.get_agent(ids[-1]) is not None
    return reg, cpu, time.process_time() - t0, got[0]


async def rates(sides: list[Side], ids: list[str], agents: list[SimpleNamespace],
                rounds: int, events: bool) -> tuple[dict[str, list[float]],
                                                     dict[str, list[float]], dict[str, Any],
                                                     dict[str, int]]:
    """Registration rates per side over ``rounds`` fresh registries (sides interleaved), of
    the calls alone and with the first read; the last round's registries are kept."""
    out: dict[str, list[float]] = {s.name: [] for s in sides}
    read: dict[str, list[float]] = {s.name: [] for s in sides}
    kept: dict[str, Any] = {}
    delivered: dict[str, int] = {}
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            old = kept.pop(side.name, None)
            if old is not None:
                await old.shutdown()
                del old
            gc.collect()
            reg, cpu, cpu_read, got = await register_all(side, ids, agents, events,
                                                         listen=events)
            out[side.name].append(len(ids) / cpu)
            read[side.name].append(len(ids) / cpu_read)
            kept[side.name] = reg
            delivered[side.name] = got
    return out, read, kept, delivered


def rate_rows(base: Side, ours: Side, rate: dict[str, list[float]],
              read: dict[str, list[float]]) -> None:
    for label, r in (("register_agent (rate)", rate), ("  with the first read", read)):
        kr, gr = r[base.name], r[ours.name]
        print(f"{label:<30} {statistics.median(kr):>9,.0f}/s {spread(kr):>6.0%}"
              f" {statistics.median(gr):>8,.0f}/s {spread(gr):>6.0%}"
              f" {statistics.median(gr) / statistics.median(kr):>8.2f}x")


async def time_call(call: Callable[[], Awaitable[Any]], reps: int) -> tuple[list[float], float,
                                                                           Any]:
    """CPU seconds per call over ``reps`` repetitions (cheap calls looped to >= 2 ms each),
    the first call's own time, and the first answer."""
    t0 = time.process_time()
    first = await call()
    first_s = time.process_time() - t0
    loops = max(1, int(0.002 / max(first_s, 1e-7)))
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        for _ in range(loops):
            await call()
        times.append((time.process_time() - t0) / loops)
    return times, first_s, first


async def query_table(sides: list[Side], regs: dict[str, Any], n: int, reps: int) -> bool:
    base, ours = sides
    same_all = True
    print(f"{'find_agents_by_capability':<30} {base.name:>12} {'spread':>7} {'gossipreg':>11}"
          f" {'spread':>7} {'ratio':>9} {'same set':>10} {'first call':>11}")
    for label, cap, status in queries(n):
        row: dict[str, tuple[list[float], float, Any]] = {}
        for side in (ours, base):
            reg, st = regs[side.name], side.status(status)
            row[side.name] = await time_call(
                lambda reg=reg, st=st, cap=cap: reg.find_agents_by_capability(
                    cap, status_filter=st),
                reps)
        sets = [{m.agent_id for m in row[s.name][2]} for s in sides]
        same = sets[0] == sets[1]
        same_all &= same
        kt, gt = row[base.name][0], row[ours.name][0]
        ratio = statistics.median(kt) / max(statistics.median(gt), 1e-9)
        print(f"{label:<30} {statistics.median(kt) * 1e3:>9.3f} ms {spread(kt):>6.0%}"
              f" {statistics.median(gt) * 1e3:>8.3f} ms {spread(gt):>6.0%} {ratio:>8.1f}x"
              f" {('yes' if same else 'NO') + f' ({len(sets[1]):,})':>10}"
              f" {row[ours.name][1] * 1e3:>8.3f} ms")
    return same_all


async def memory(side: Side, ids: list[str], agents: list[SimpleNamespace],
                 by_file: bool, config: Any = None) -> list[tuple[str, float]]:
    """Bytes per agent after registering every agent, then after a first one-hit query (work
    deferred to queries done), a first free-text search (the lexical index built) and an
    all-hit query (result objects made), where the side has them."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot() if by_file else None
    base = tracemalloc.get_traced_memory()[0]
    reg = side.mod.AgentRegistry(side.config(False) if config is None else config)
    await reg.start()
    for i, aid in enumerate(ids):
        await reg.register_agent(agents[i], f"runtime-{i % 50}", agent_id=aid)
    await reg.get_agent(ids[-1])  # gossipreg applies what it kept pending (kaizen: nothing)
    gc.collect()
    n = len(ids)
    out = [("registered", (tracemalloc.get_traced_memory()[0] - base) / n)]
    if before is not None:
        stats = tracemalloc.take_snapshot().compare_to(before, "filename")
        for st in sorted(stats, key=lambda s: -s.size_diff)[:8]:
            name = st.traceback[0].filename.split("site-packages/")[-1].split("wt-facade/")[-1]
            out.append((f"  of which {name}", st.size_diff / n))
    if config is not None:
        tracemalloc.stop()
        await reg.shutdown()
        return out
    await reg.find_agents_by_capability(f"unique-{n // 2:06d}")
    gc.collect()
    out.append(("after a first 1-hit query", (tracemalloc.get_traced_memory()[0] - base) / n))
    if hasattr(reg, "search"):
        await reg.search("python code")
        gc.collect()
        out.append(("after a first search()", (tracemalloc.get_traced_memory()[0] - base) / n))
    await reg.find_agents_by_capability("", status_filter=None)
    gc.collect()
    out.append(("after an all-hit query", (tracemalloc.get_traced_memory()[0] - base) / n))
    tracemalloc.stop()
    await reg.shutdown()
    return out


async def main_async(args: argparse.Namespace) -> int:
    kz, why = load_kaizen()
    if kz is not None:
        base = Side("kaizen", kz)
        print(f"baseline: {why} (imported: the comparison is against kaizen itself)")
    else:
        from sim.bench import kaizen_scan
        base = Side("kaizen-scan", kaizen_scan)
        print(f"baseline: kaizen is not importable ({why});\n  a kaizen-semantics linear scan"
              " (sim.bench.kaizen_scan) stands in: figures against kaizen itself need kaizen")
    ours = Side("gossipreg", gossip)
    sides = [base, ours]
    n = args.agents
    ids, agents = make_agents(n)
    print(f"{n:,} agents; CPU time (time.process_time) of this process; "
          f"{args.rounds} rounds of registrations, {args.reps} repetitions per query\n")

    rate, read, regs, _ = await rates(sides, ids, agents, args.rounds, events=False)
    for side in sides:
        st = side.mod.AgentStatus("degraded")
        assert await regs[side.name].update_agent_status(ids[7], st)
    print("events and heartbeat monitoring off on both")
    rate_rows(base, ours, rate, read)
    same = await query_table(sides, regs, n, args.reps)
    for reg in regs.values():
        await reg.shutdown()
    regs.clear()
    gc.collect()

    print("\nevents on (a listener on AGENT_REGISTERED), heartbeat monitoring off, on both")
    rate, read, regs, got = await rates(sides, ids, agents, args.rounds, events=True)
    rate_rows(base, ours, rate, read)
    print(f"{'  events the listener got':<30} {got[base.name]:>11,} {'':>7}"
          f" {got[ours.name]:>10,}")
    for reg in regs.values():
        await reg.shutdown()
    regs.clear()
    gc.collect()

    if not args.no_memory:
        print("\nmemory per agent (tracemalloc, before/after the registrations, records"
              " included; events off)")
        for side in sides:
            for label, per in await memory(side, ids, agents, by_file=side is ours):
                print(f"{side.name:<12} {label:<58} {per:>8,.0f} B")
        for side in sides:  # kaizen's defaults: heartbeat monitoring and events on
            (label, per), *_ = await memory(side, ids, agents, False,
                                            side.mod.AgentRegistryConfig())
            print(f"{side.name:<12} {label + ', AgentRegistryConfig() defaults':<58}"
                  f" {per:>8,.0f} B")
    if not same:
        print("\nANSWERS DIFFER: see 'same set' above")
        return 1
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3, help="registration rounds per registry")
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per query")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    sys.exit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
