"""Benchmark of the local directory: capability queries against a linear scan, write
throughput through replica + view + index, and memory per agent.

    python -m sim.bench.index [--sizes 1000,10000,100000] [--queries 200]

Each size builds a directory of agents with ~3 capabilities drawn from a realistic mix (shared
phrases plus one unique string per agent) on a real core node, then times queries with a 1-hit,
a 10%-hit, an all-hit and a miss query on the index and on a kaizen-style linear scan over the
same records, in the same process, and prints the ratio. Then write throughput and memory per
agent, and the mean and worst time of one re-registration on the index alone.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import AGENT, HB, STATUS, Heartbeat, StatusWrite, make_record
from gossipreg.core.node import Node
from gossipreg.core.replica.hlc import HybridClock
from gossipreg.core.replica.store import Replica
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentRecord, AgentStatus

SHARED = [
    "python code generation", "data analysis", "content writing", "code review",
    "sql query optimization", "image captioning", "translation", "summarization",
    "customer support", "web scraping", "unit test generation", "financial forecasting",
]


def make_records(n: int, rng: random.Random) -> list[AgentRecord]:
    out = []
    for i in range(n):
        caps = [*rng.sample(SHARED, 2), f"specialist skill {i:07d}"]
        if i % 10 == 0:
            caps.append("rare tenth capability")
        out.append(make_record(f"agent-{i:07d}", f"Agent {i}", f"runtime-{i % 50}", caps,
                               registered_at=1_700_000_000.0 + i))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


T = TypeVar("T")


def timed(fn: Callable[[], T], reps: int) -> tuple[list[float], T]:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def linear_scan(records: list[AgentRecord], q: str) -> list[str]:
    """kaizen's query: every agent, every capability, substring; then overlap ranking."""
    ql = q.lower()
    words = set(ql.split())
    hits = []
    for r in records:
        if any(ql in c.lower() for c in r.capabilities):
            score = len(words & set(" ".join(r.capabilities).lower().split()))
            hits.append((-score, r.registered_at, r.agent_id))
    hits.sort()
    return [h[2] for h in hits]


def bench_store(records: list[AgentRecord], picks: list[str]) -> dict[str, float]:
    """Writes through the replica and the index alone (what the issue's target counts): the
    record write plus its index entry, heartbeat writes, and status writes with the index's
    status update. No view derivation, events or broadcast encoding."""
    replica = Replica("bench", 1)
    index = CapabilityIndex()
    t0 = time.perf_counter()
    for r in records:
        replica.write(AGENT + r.agent_id, r)
        index.upsert(r.agent_id, r.capabilities, status=AgentStatus.ACTIVE,
                     runtime_id=r.runtime_id, registered_at=r.registered_at, tags=r.tags,
                     node_id="bench")
    reg_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, aid in enumerate(picks):
        replica.write(HB + aid, Heartbeat(i, 1_700_000_000_000 + i))
    hb_s = time.perf_counter() - t0
    clock = HybridClock("bench")
    t0 = time.perf_counter()
    for i, aid in enumerate(picks):
        st = AgentStatus.DEGRADED if i % 2 else AgentStatus.ACTIVE
        replica.write(STATUS + aid, StatusWrite(st, clock.now(1_700_000_000_000 + i), "manual"))
        index.set_status(aid, st)
    st_s = time.perf_counter() - t0
    return {"store_writes_per_s": len(records) / reg_s,
            "store_heartbeats_per_s": len(picks) / hb_s,
            "store_status_per_s": len(picks) / st_s}


def bench_reputs(records: list[AgentRecord]) -> dict[str, float]:
    """Re-registrations on an index nobody queries, each put timed: 3n puts of known agents
    with their records (as the directory makes them). The worst is the write that pays for
    whatever the index does only now and then."""
    index = CapabilityIndex()
    for r in records:
        index.put(r.agent_id, r.capabilities, AgentStatus.ACTIVE, r.runtime_id,
                  r.registered_at, r.tags, "bench", r)
    times = []
    clock = time.perf_counter
    for k in range(3 * len(records)):
        r = records[k % len(records)]
        t0 = clock()
        index.put(r.agent_id, r.capabilities, AgentStatus.ACTIVE, r.runtime_id,
                  r.registered_at, r.tags, "bench", r)
        times.append(clock() - t0)
    return {"reput_mean_us": statistics.fmean(times) * 1e6, "reput_worst_ms": max(times) * 1e3}


def bench(n: int, reps: int) -> dict[str, float]:
    rng = random.Random(n)
    records = make_records(n, rng)
    ids = [r.agent_id for r in records]
    picks = [rng.choice(ids) for _ in range(min(n, 20_000))]
    cfg = NodeConfig.lan()  # defaults: the owner heartbeat judge is on
    # Memory first, in a clean heap (tracemalloc slows every allocation: no timing here).
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    node = Node("bench", "bench:1", cfg, rng=random.Random(1), now=0.0)
    for r in records:
        # A fresh copy, so that the record objects themselves are counted too.
        node.register(AgentRecord(*r), 0.0, wall=0.0)
        while node.poll_event() is not None:
            pass
    node.drop_pending_gossip()  # benchmark: no peers to send the queued broadcasts to
    gc.collect()
    mem = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del node
    gc.collect()
    # Replica + index alone, while the heap holds nothing else (a big heap makes the garbage
    # collector's passes, and so every allocation, slower).
    store = bench_store(records, picks)
    gc.collect()
    store.update(bench_reputs(records))
    gc.collect()
    # The whole local path; this node then answers the queries.
    node = Node("bench", "bench:1", cfg, rng=random.Random(1), now=0.0)
    t0 = time.perf_counter()
    for r in records:
        node.register(r, 0.0, wall=0.0)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for aid in picks:
        node.heartbeat(aid, 1.0, wall=1.0)
    hb_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, aid in enumerate(picks):
        node.set_status(aid, AgentStatus.DEGRADED if i % 2 else AgentStatus.ACTIVE, 2.0,
                        wall=2.0)
    st_s = time.perf_counter() - t0
    queries = {
        "1-hit": f"skill {n // 2:07d}",
        "10%-hit": "rare tenth",
        "all-hit": "",
        "miss": "quantum teleportation",
    }
    row: dict[str, float] = {"writes_per_s": n / write_s, "bytes_per_agent": mem / n,
                             "heartbeats_per_s": len(picks) / hb_s,
                             "status_per_s": len(picks) / st_s}
    row.update(store)
    for name, q in queries.items():
        query = Query.of(q, status=None)
        idx_t, got = timed(partial(node.read.find, query), reps)
        scan_reps = max(3, reps // 20) if n >= 100_000 else reps // 4 or 1
        scan_t, want = timed(partial(linear_scan, records, q), scan_reps)
        assert [v.agent_id for v in got] == want, f"index disagrees with scan on {q!r}"
        row[f"{name}_p50_ms"] = statistics.median(idx_t) * 1e3
        row[f"{name}_p99_ms"] = pct(idx_t, 0.99) * 1e3
        row[f"{name}_scan_p50_ms"] = statistics.median(scan_t) * 1e3
        row[f"{name}_speedup"] = statistics.median(scan_t) / max(statistics.median(idx_t), 1e-9)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200, help="timed repetitions per query")
    args = ap.parse_args()
    print(f"{'agents':>8} {'query':>8} {'index p50':>10} {'index p99':>10} {'scan p50':>10}"
          f" {'speedup':>9}")
    summary = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = bench(n, args.queries)
        for q in ("1-hit", "10%-hit", "all-hit", "miss"):
            print(f"{n:>8} {q:>8} {row[q + '_p50_ms']:>8.3f}ms {row[q + '_p99_ms']:>8.3f}ms"
                  f" {row[q + '_scan_p50_ms']:>8.2f}ms {row[q + '_speedup']:>8.0f}x", flush=True)
        summary.append((n, row))
    print()
    print("local writes per second: 'store' = replica + index; 'node' = the whole local path")
    print("(replica + view + index + event; a node alone queues no broadcast, and the index")
    print("takes new strings at the next query); bytes per agent of a node holding the")
    print("directory (records included, before any query)")
    print(f"{'agents':>8} {'':>6} {'registrations':>14} {'heartbeats':>11} {'status':>9}"
          f" {'bytes/agent':>12}")
    for n, row in summary:
        print(f"{n:>8} {'store':>6} {row['store_writes_per_s']:>14,.0f}"
              f" {row['store_heartbeats_per_s']:>11,.0f} {row['store_status_per_s']:>9,.0f}")
        print(f"{n:>8} {'node':>6} {row['writes_per_s']:>14,.0f} {row['heartbeats_per_s']:>11,.0f}"
              f" {row['status_per_s']:>9,.0f} {row['bytes_per_agent']:>12,.0f}")
    print()
    print("re-registrations on the index alone, nobody querying (3n puts of known agents, each")
    print("timed): the mean, and the worst (a write that pays for work done only now and then)")
    print(f"{'agents':>8} {'mean':>10} {'worst':>10}")
    for n, row in summary:
        print(f"{n:>8} {row['reput_mean_us']:>8.2f}us {row['reput_worst_ms']:>8.2f}ms")


if __name__ == "__main__":
    main()
