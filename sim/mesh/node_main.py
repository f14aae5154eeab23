"""``python -m sim.mesh.node_main``: a gossipreg node for the harness with config overrides
(``--set tombstone_ttl=300``), so that a benchmark can try a setting without the product
growing an option for it. Otherwise the same as ``gossipreg node``: the same ``GossipNode``,
HTTP API and graceful leave on SIGTERM.

Debug only (the soak's ``--tracemalloc``): ``--trace FILE [--trace-every S] [--trace-frames N]``
runs :mod:`tracemalloc` and every ``S`` seconds appends to ``FILE`` the top allocation sites
by file:line and their growth since the first snapshot (taken ``S`` seconds after the start,
once the node warmed up), and for the five tracebacks that grew most, what holds their live
objects (their types, then the objects referring to them, two levels up: ``_holders``).
``--cli ARGS...`` runs ``gossipreg ARGS...`` (the product's own
``gossipreg node``) under that tracer instead of this module's node."""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import os
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter

from gossipreg.core.config import NodeConfig
from gossipreg.io.gossip_node import GossipNode

__all__ = ["main"]

_TOP = 25
# Allocations of the tracer itself and of the import machinery are not the node's.
_IGNORE = (tracemalloc.__file__, linecache.__file__, "<frozen importlib._bootstrap>",
           "<frozen importlib._bootstrap_external>", "<unknown>")


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, f) for f in _IGNORE])


def _types() -> Counter[str]:
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def _obmalloc() -> list[str]:
    """The summary of ``sys._debugmallocstats`` (CPython's small-object allocator: arenas
    held, bytes in used and free blocks), which it prints to the C stderr only."""
    with tempfile.TemporaryFile("w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    keep = ("# arenas", "arenas *", "# bytes in", "# unused pools", "# bytes lost", "Total")
    return [f"  {line.strip()}" for line in text.splitlines()
            if line.strip().startswith(keep)]


def _trace_loop(path: str, every: float) -> None:
    """A daemon thread: snapshots need no event loop, and the GIL makes each one consistent.
    Objects the collector tracks are counted by type every time (cheap); allocation sites
    only when tracemalloc runs (``--trace-frames`` > 0: it slows a loaded node down a lot)."""
    t0 = time.monotonic()
    time.sleep(every)
    first_types = _types()
    first = _snapshot() if tracemalloc.is_tracing() else None
    while True:
        time.sleep(every)
        types = _types()
        lines = [f"== t={time.monotonic() - t0:.0f}s blocks={sys.getallocatedblocks()} "
                 f"gc_objects={types.total()}", "-- tracked objects by type: growth since "
                 "the first snapshot (count now, change)"]
        growth = sorted(((n - first_types.get(k, 0), k, n) for k, n in types.items()),
                        reverse=True)
        lines += [f"  {k}: {n} ({d:+d})" for d, k, n in growth[:_TOP]]
        lines += ["-- obmalloc (sys._debugmallocstats)", *_obmalloc()]
        if first is not None:
            lines += _sites(first)
        with open(path, "a") as f:
            f.write("\n".join(lines) + "\n")


def _sites(first: tracemalloc.Snapshot) -> list[str]:
    snap = _snapshot()
    traced, peak = tracemalloc.get_traced_memory()
    lines = [f"-- tracemalloc traced={traced / 1e6:.2f}MB peak={peak / 1e6:.2f}MB",
             "-- top sites by size"]
    lines += [f"  {s}" for s in snap.statistics("lineno")[:_TOP]]
    lines.append("-- growth since the first snapshot, by site")
    lines += [f"  {s}" for s in snap.compare_to(first, "lineno")[:_TOP]]
    lines.append("-- growth since the first snapshot, by traceback (top 5)")
    grown = snap.compare_to(first, "traceback")[:5]
    for s in grown:
        lines.append(f"  {s.size_diff / 1e3:+.1f} kB {s.count_diff:+d} blocks")
        lines += [f"      {frame}" for frame in s.traceback.format()]
    lines += _holders([s.traceback for s in grown if s.count_diff > 0])
    return lines


def _describe(o: object) -> str:
    r = repr(o) if isinstance(o, (str, bytes, int, float, tuple)) else ""
    return f"{type(o).__module__}.{type(o).__qualname__} {r[:60]}"


def _reachable() -> list[object]:
    """Every object the collector tracks and everything reachable from them through
    untracked containers (CPython untracks dicts and tuples that hold only atomic values, so
    their strings are not referents of any tracked object), except tracemalloc's snapshots
    (their traces are as many tuples as the heap has blocks)."""
    tracked = gc.get_objects()
    skip = {id(r) for o in tracked if isinstance(o, tracemalloc.Snapshot)
            for r in gc.get_referents(o.traces)}  # the list of the traces' tuples
    skip.add(id(tracked))
    out: list[object] = []
    seen: set[int] = set(skip)
    stack: list[object] = tracked
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        out.append(o)
        for r in gc.get_referents(o):
            if id(r) not in seen and not gc.is_tracked(r):
                stack.append(r)
    return out


def _kind(o: object) -> str:
    return f"{type(o).__module__}.{type(o).__qualname__}"


def _describe(o: object) -> str:
    if isinstance(o, (str, bytes, int, float, tuple)):
        return f"{_kind(o)} {repr(o)[:70]}"
    if isinstance(o, dict):
        return f"{_kind(o)} len={len(o)} keys={list(o)[:4]!r:.70}"
    return _kind(o)


def _holders(tracebacks: list[tracemalloc.Traceback]) -> list[str]:
    """What holds the live objects allocated at the sites that grew: their types, a few
    of them, the objects that refer to them and the objects that refer to those (passes
    over the whole heap; ``gc.get_referrers`` per object would be one pass each)."""
    if not tracebacks:
        return []
    wanted = {tb: i for i, tb in enumerate(tracebacks)}  # Tracebacks compare by frames
    heap = _reachable()
    site: dict[int, int] = {}  # id of a live object allocated at a wanted site -> the site
    objs: list[list[object]] = [[] for _ in tracebacks]
    for o in heap:
        tb = tracemalloc.get_object_traceback(o)
        if tb is not None and tb in wanted:
            site[id(o)] = wanted[tb]
            objs[wanted[tb]].append(o)
    level1: list[Counter[str]] = [Counter() for _ in tracebacks]
    holder: dict[int, tuple[int, str]] = {}  # id of a holder -> (site, its kind)
    level2: list[Counter[str]] = [Counter() for _ in tracebacks]
    for o in heap:
        if id(o) in site or o is heap:
            continue
        for r in gc.get_referents(o):
            k = site.get(id(r))
            if k is not None:
                level1[k][_describe(o)[:100]] += 1
                holder[id(o)] = (k, _kind(o))
                break
    for o in heap:
        if id(o) in site or id(o) in holder or o is heap:
            continue
        for r in gc.get_referents(o):
            h = holder.get(id(r))
            if h is not None:
                level2[h[0]][f"{_describe(o)[:80]} -> {h[1]}"] += 1
                break
    lines = ["-- holders of the live objects allocated at those sites"]
    for k in range(len(tracebacks)):
        kinds = Counter(_kind(o) for o in objs[k])
        lines.append(f"  site {k}: {len(objs[k])} live: {dict(kinds.most_common(5))}")
        lines += [f"    e.g. {_describe(o)}" for o in objs[k][:6]]
        lines.append("    held by:")
        lines += [f"      {n} x {d}" for d, n in level1[k].most_common(8)]
        lines.append("    held by (2):")
        lines += [f"      {n} x {d}" for d, n in level2[k].most_common(8)]
    return lines


async def _run(args: argparse.Namespace) -> None:
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    profile = {"local": NodeConfig.local, "lan": NodeConfig.lan, "wan": NodeConfig.wan}
    node = GossipNode(args.name, bind=args.bind, seeds=args.join,
                      config=profile[args.profile](**overrides))
    await node.start()
    print(f"gossipreg node {node.name} listening on {node.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.leave()
    await node.shutdown()


def main() -> None:
    argv = sys.argv[1:]
    cli = None
    if "--cli" in argv:
        k = argv.index("--cli")
        argv, cli = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(prog="python -m sim.mesh.node_main")
    ap.add_argument("--name", required=cli is None)
    ap.add_argument("--bind", required=cli is None)
    ap.add_argument("--join", action="append", default=[])
    ap.add_argument("--profile", default="lan", choices=["local", "lan", "wan"])
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=SECONDS")
    ap.add_argument("--trace", metavar="FILE", help="debug: tracemalloc sites to FILE")
    ap.add_argument("--trace-every", type=float, default=180.0, metavar="SECONDS")
    ap.add_argument("--trace-frames", type=int, default=8, help="0: object types only")
    args = ap.parse_args(argv)
    if args.trace:
        if args.trace_frames > 0:
            tracemalloc.start(args.trace_frames)
        threading.Thread(target=_trace_loop, args=(args.trace, args.trace_every),
                         daemon=True).start()
    if cli is not None:
        from gossipreg.cli import main as gossipreg_main
        sys.exit(gossipreg_main(cli))
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
