"""Benchmark of free-text search (ARD ``POST /search``) and of the richer record's memory.

    python -m sim.mesh.bench_search [--sizes 1000,10000,100000] [--queries 300]
                               [--parent /work/wt-a2a-parent] [--memory-agents 20000]

Agents carry realistic A2A cards: a name, a description, 1–3 skills with ids, tags and
examples, words drawn from a Zipf-distributed vocabulary (the most common words dropped, as
stop words would be). Queries are three words of some agent's skill example (need queries),
plus one-word tag queries and a miss. For each size the benchmark times the in-process search
(``Node.search``, top 10) and the same query over HTTP (``POST /ard/v1/search``, pageSize 10,
one keep-alive connection), and prints p50/p99.

Memory: bytes per agent of a core node holding N agents (replica, view, index, ranker and the
records), measured with tracemalloc for two mixes — plain capability records (no card) and A2A
cards — in this tree and, with ``--parent``, in a checkout of the parent commit, in the same
invocation (a subprocess per tree), with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VOCAB = 6000
SKIP = 40  # the most common ranks: stop words in real text


def _vocab(rng: random.Random) -> list[str]:
    syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "qui", "fer", "mon",
           "tra", "lex", "dat", "ser", "cod", "pla"]
    words: set[str] = set()
    while len(words) < VOCAB + SKIP:
        words.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Mix:
    """Deterministic generator of A2A cards over a Zipf vocabulary."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = _vocab(self.rng)[SKIP:]
        self.weights = [1.0 / (r + SKIP) for r in range(len(self.words))]

    def text(self, k: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=k))

    def card(self, i: int) -> dict[str, Any]:
        rng = self.rng
        return {
            "name": self.text(2).title(), "description": self.text(12), "version": "1.0.0",
            "provider": {"organization": "Acme", "url": "https://acme.example"},
            "supportedInterfaces": [{"url": f"http://10.0.{i % 250}.{i % 200}:8080/a2a",
                                     "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": True},
            "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
            "skills": [{"id": f"skill-{i}-{j}", "name": self.text(2),
                        "description": self.text(8), "tags": self.rng.choices(
                            self.words[:300], k=2),
                        "examples": [self.text(6), self.text(6)]}
                       for j in range(rng.randint(1, 3))],
        }


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def _queries(cards: list[dict[str, Any]], n: int, rng: random.Random) -> list[str]:
    out = []
    for k in range(n):
        c = rng.choice(cards)
        if k % 10 == 9:
            out.append("zzqx unheard")  # a miss
        elif k % 5 == 4:
            out.append(rng.choice(c["skills"])["tags"][0])  # one common word
        else:
            words = rng.choice(rng.choice(c["skills"])["examples"]).split()
            out.append(" ".join(rng.sample(words, 3)))
    return out


async def _http_times(node: Any, queries: list[str]) -> list[float]:
    import aiohttp

    url = f"http://{node.address}/ard/v1/search"
    times = []
    async with aiohttp.ClientSession() as s:
        for q in queries:
            t0 = time.perf_counter()
            async with s.post(url, json={"query": {"text": q}, "pageSize": 10}) as r:
                await r.read()
                assert r.status == 200
            times.append(time.perf_counter() - t0)
    return times


async def bench_latency(n: int, reps: int) -> dict[str, float]:
    from gossipreg.core.config import NodeConfig
    from gossipreg.core.directory.records import make_record
    from gossipreg.io.gossip_node import GossipNode

    mix = Mix(n)
    cards = [mix.card(i) for i in range(n)]
    node = GossipNode("bench", config=NodeConfig.local(heartbeat_timeout=None))
    await node.start()
    try:
        t0 = time.perf_counter()
        for i, c in enumerate(cards):
            node.core.register(make_record(f"agent-{i:07d}", None, "rt", card=c,
                                           registered_at=1.7e9 + i), 0.0, wall=time.time())
        node.read.search("warm")  # the ranker takes the loaded records at the first search
        load_s = time.perf_counter() - t0
        node.core.drop_pending_gossip()
        while node.core.poll_event() is not None:
            pass
        gc.collect()
        qs = _queries(cards, reps, random.Random(1))
        inproc = []
        hits = 0
        for q in qs:
            t0 = time.perf_counter()
            got = node.read.search(q, None, limit=10)
            inproc.append(time.perf_counter() - t0)
            hits += bool(got)
        http = await _http_times(node, qs)
    finally:
        await node.shutdown()
    return {"inproc_p50": statistics.median(inproc) * 1e3, "inproc_p99": pct(inproc, .99) * 1e3,
            "http_p50": statistics.median(http) * 1e3, "http_p99": pct(http, .99) * 1e3,
            "hit_rate": hits / len(qs), "load_per_s": n / load_s}


# Runs in this tree or in the parent's (only APIs both have): prints bytes per agent as JSON.
_MEMORY = r"""
import gc, inspect, json, random, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
import gossipreg
from gossipreg.core.config import NodeConfig
from gossipreg.core.node import Node
from gossipreg.core.directory.records import make_record
with open(sys.argv[2]) as f:
    cards = json.load(f)
n = len(cards)
# Trees from before wall time became an argument of the inputs take no ``wall``.
kw = {"wall": 0.0} if "wall" in inspect.signature(Node.register).parameters else {}
out = {"module": gossipreg.__file__}
for kind in ("plain", "a2a"):
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    node = Node("bench", "bench:1", NodeConfig.lan(), rng=random.Random(1), now=0.0)
    for i, c in enumerate(cards):
        caps = [s["name"] for s in c["skills"]] + [s["description"] for s in c["skills"]]
        # A fresh copy (as from the network or a caller), so that what a node keeps of the
        # card is counted, whatever form it keeps it in.
        card = json.loads(json.dumps(c)) if kind == "a2a" else None
        r = make_record(f"agent-{i:07d}", c["name"], "rt", caps, description=c["description"],
                        card=card, registered_at=1.7e9 + i)
        node.register(r, 0.0, **kw)
        while node.poll_event() is not None:
            pass
    node.drop_pending_gossip()
    # The ranker takes record changes at the next search: one, so that its postings count.
    read = getattr(node, "read", None)  # absent in trees older than the read surface
    if read is not None:
        read.search("warm")
    gc.collect()
    out[kind] = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    del node
print(json.dumps(out))
"""


def memory(tree: Path, cards_file: Path) -> dict[str, Any]:
    """Bytes per agent of a node of ``tree``'s code holding the agents in ``cards_file``."""
    out = subprocess.run([sys.executable, "-c", _MEMORY, str(tree), str(cards_file)],
                         check=True, capture_output=True, text=True, cwd="/")
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["module"].startswith(str(tree)), result["module"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--parent", help="a checkout of the commit to compare memory against")
    ap.add_argument("--memory-agents", type=int, default=20_000)
    args = ap.parse_args()
    print(f"{'agents':>8} {'in-process p50':>15} {'p99':>9} {'HTTP p50':>10} {'p99':>9}"
          f" {'queries hit':>12} {'loaded/s':>9}")
    for n in (int(s) for s in args.sizes.split(",") if s):
        r = asyncio.run(bench_latency(n, args.queries))
        print(f"{n:>8} {r['inproc_p50']:>13.3f}ms {r['inproc_p99']:>7.3f}ms"
              f" {r['http_p50']:>8.3f}ms {r['http_p99']:>7.3f}ms {r['hit_rate']:>11.0%}"
              f" {r['load_per_s']:>9,.0f}", flush=True)
    if args.memory_agents:
        here = Path(__file__).resolve().parents[2]  # the repository root
        mix = Mix(7)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump([mix.card(i) for i in range(args.memory_agents)], f)
            f.flush()
            cards_file = Path(f.name)
            now = memory(here, cards_file)
            before = memory(Path(args.parent).resolve(), cards_file) if args.parent else {}
        print(f"\nmemory per agent, {args.memory_agents} agents (bytes; tracemalloc)")
        print(f"{'mix':>6} {'this tree':>10} {'parent':>10} {'ratio':>7}")
        for kind in ("plain", "a2a"):
            b = before.get(kind)
            ratio = f"{now[kind] / b:>6.2f}x" if b else "     -"
            print(f"{kind:>6} {now[kind]:>10,.0f} {b or 0:>10,.0f} {ratio}")


if __name__ == "__main__":
    main()
