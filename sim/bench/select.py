"""Benchmark of select and send.

    python -m sim.bench.select [--sizes 1000,10000,100000] [--queries 200] [--sends 200]
                               [--repeats 20] [--no-send]

Select: a core node holding N agents with A2A cards (each with an endpoint, 2 of 12 shared
skills and one of its own) answers text selections end to end on the core path the node's
router takes (``Reader.pool`` then ``core.route.select.choose``): ``best`` (the top 3 of the
ranked search), ``round_robin`` and ``least_loaded`` (over the 256 most relevant of the
matching ACTIVE agents; a query matches a sixth to a third of N). p50/p99 per strategy and
size.

Send (``sim.mesh.bench_send``: real sockets on 127.0.0.1): the overhead of ``GossipNode.send``
against calling the same a2a-sdk agent directly with the a2a-sdk client (medians, one run,
the ratio), and the failover time when the first agent's server is dead (median over
repeats). Figures are printed, never judged.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.node import Node
from gossipreg.core.route.select import SelectQuery, Strategy, choose, pool_limit
from gossipreg.core.types import AgentRecord

SKILLS = ["python code generation", "data analysis", "content writing", "code review",
          "sql query optimization", "image captioning", "text translation", "summarization",
          "customer support", "web scraping", "unit test generation", "financial forecasting"]
QUERIES = ["python code generation please", "data analysis of sales", "content writing",
           "code review of a patch", "sql query optimization", "image captioning",
           "text translation to french", "summarization of a report", "customer support",
           "web scraping of prices"]


def make_records(n: int, rng: random.Random) -> list[AgentRecord]:
    out = []
    for i in range(n):
        skills = [*rng.sample(SKILLS, 2), f"specialist skill {i:07d}"]
        card = {"name": f"Agent {i}", "description": "bench agent", "version": "1",
                "capabilities": {},
                "supportedInterfaces": [{"url": f"http://10.0.{i // 250 % 256}.{i % 250}/a2a",
                                         "protocolBinding": "JSONRPC",
                                         "protocolVersion": "1.0"}],
                "skills": [{"id": f"s{j}", "name": s, "description": s, "tags": []}
                           for j, s in enumerate(skills)]}
        out.append(make_record(f"agent-{i:07d}", None, f"runtime-{i % 50}", card=card,
                               registered_at=1_700_000_000.0 + i))
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def bench_select(n: int, reps: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(n)
    node = Node("bench", "bench:1", NodeConfig.lan(), rng=random.Random(1), now=0.0)
    for r in make_records(n, rng):
        node.register(r, 0.0, wall=0.0)
        while node.poll_event() is not None:
            pass
    node.drop_pending_gossip()
    gc.collect()
    out: dict[str, tuple[float, float]] = {}
    pick = random.Random(7)
    for text in QUERIES:  # warm up: the index finishes its pending ranking work once
        node.read.pool(SelectQuery.of(text, sendable=True), limit=64)
    for strategy in (Strategy.BEST, Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED):
        times = []
        for i in range(reps):
            q = SelectQuery.of(pick.choice(QUERIES), k=3, sendable=True)
            t0 = time.perf_counter()
            pool = node.read.pool(q, limit=pool_limit(q, strategy))
            got = choose(pool, q, strategy, pick, cursor=i)
            times.append(time.perf_counter() - t0)
            assert got
        out[strategy.value] = (statistics.median(times) * 1e3, pct(times, 0.99) * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200, help="selections per strategy")
    ap.add_argument("--sends", type=int, default=200, help="sends for the overhead ratio")
    ap.add_argument("--repeats", type=int, default=20, help="failovers timed")
    ap.add_argument("--no-send", action="store_true", help="select only (no sockets)")
    args = ap.parse_args()
    print("select latency (ms), core path of the router, text queries, k=3")
    print(f"{'agents':>8}  {'strategy':<13} {'p50':>8} {'p99':>8}")
    for n in (int(x) for x in args.sizes.split(",")):
        for strategy, (p50, p99) in bench_select(n, args.queries).items():
            print(f"{n:>8}  {strategy:<13} {p50:>8.3f} {p99:>8.3f}", flush=True)
        gc.collect()
    if not args.no_send:
        from sim.mesh.bench_send import run

        run(args.sends, args.repeats)


if __name__ == "__main__":
    main()
