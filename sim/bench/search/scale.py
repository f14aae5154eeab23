"""Costs of hybrid search: query latency by size, memory per agent, model load, embedding per
registration, registration throughput with the local model on and off.

Synthetic agents carry A2A cards whose words come from a Zipf vocabulary (as
``sim.bench.index``); their vectors are real vectors of the local model (the relevance set's
evidence texts) plus noise (cosine about 0.9 to the original), one per evidence text a card of
that shape has (the card, then each skill: 2-4), so the share of agents near a query is a real
one. Queries are three words of some agent's example with, two times in three, that agent's card
vector (the two kinds of evidence agree, as in a real query), else the vector of one of the
relevance set's queries (they disagree: the slow case of the top-k search).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.node import Node
from gossipreg.core.search import vecindex
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vectors import VectorSet
from gossipreg.core.types import AgentRecord

__all__ = ["Mix", "embedding_cost", "latency", "memory", "model_load", "registration"]

VOCAB, SKIP = 6000, 40
MODEL, DIMS = "wordllama/l2_supercat-256", 256


class Mix:
    """Deterministic A2A cards over a Zipf vocabulary."""

    def __init__(self, seed: int) -> None:
        self.rng = rng = random.Random(seed)
        syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "qui", "fer",
               "mon", "tra", "lex", "dat", "ser", "cod", "pla"]
        words: set[str] = set()
        while len(words) < VOCAB + SKIP:
            words.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
        self.words = sorted(words)[SKIP:]
        self.weights = [1.0 / (r + SKIP) for r in range(len(self.words))]

    def text(self, k: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=k))

    def card(self, i: int) -> dict[str, Any]:
        return {
            "name": self.text(2).title(), "description": self.text(12), "version": "1.0.0",
            "provider": {"organization": "Acme", "url": "https://acme.example"},
            "supportedInterfaces": [{"url": f"http://10.0.{i % 250}.{i % 200}:8080/a2a",
                                     "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": True},
            "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
            "skills": [{"id": f"skill-{i}-{j}", "name": self.text(2),
                        "description": self.text(8),
                        "tags": self.rng.choices(self.words[:300], k=2),
                        "examples": [self.text(6), self.text(6)]}
                       for j in range(self.rng.randint(1, 3))]}

    def record(self, i: int) -> AgentRecord:
        return make_record(f"agent-{i:07d}", None, "rt", card=self.card(i),
                           registered_at=1.7e9 + i)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def noisy_codes(pool: Any, count: int, seed: int, noise: float = 0.5) -> list[bytes]:
    """``count`` codes near vectors of ``pool`` (unit rows, float64), quantised as
    :func:`gossipreg.core.search.vectors.quantize` does."""
    import numpy as np

    rng = np.random.default_rng(seed)
    v = pool[rng.integers(len(pool), size=count)]
    v = v + rng.normal(scale=noise / np.sqrt(v.shape[1]), size=v.shape)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [row.tobytes() for row in np.clip(np.rint(v * 127), -127, 127).astype(np.int8)]


def _node(records: list[AgentRecord], codes: list[bytes] | None) -> Node:
    """A core node holding ``records`` (with ``codes``, taken in order, when given)."""
    node = Node("bench", "bench:1", NodeConfig.lan(heartbeat_timeout=None),
                rng=random.Random(1), now=0.0)
    if codes is not None:
        node.vectors.use(MODEL, DIMS, None)
    at = 0
    for r in records:
        node.register(r, 0.0, wall=1.7e9)
        if codes is not None:
            v = node.read.get(r.agent_id)
            assert v is not None
            k = len(evidence_texts(v.record))
            node.vectors.put(v.record, VectorSet(MODEL, DIMS, tuple(codes[at:at + k])), 0.0)
            at += k
        while node.poll_event() is not None:
            pass
    node.drop_pending_gossip()
    node.read.search("warm")  # the ranker takes the loaded records at the first search
    return node


def _codes_for(records: list[AgentRecord], pool: Any, seed: int) -> list[bytes]:
    return noisy_codes(pool, sum(len(evidence_texts(r)) for r in records), seed)


def latency(n: int, pool: Any, query_codes: list[bytes], reps: int,
            embed_query: Callable[[str], bytes]) -> dict[str, float]:
    """In-process p50/p99 (ms) of a top-10 search, lexical and hybrid, over ``n`` agents."""
    mix = Mix(n)
    records = [mix.record(i) for i in range(n)]
    codes = _codes_for(records, pool, n)
    t0 = time.perf_counter()
    node = _node(records, codes)
    load = time.perf_counter() - t0
    first, at = [], 0  # where each agent's codes start
    for r in records:
        first.append(at)
        at += len(evidence_texts(r))
    rng = random.Random(2)
    qs = []
    for k in range(reps):
        i = rng.randrange(n)
        words = rng.choice(rng.choice(records[i].skills).examples).split()
        # two in three: the agent's own card vector (their evidence agrees); else a real query's
        code = query_codes[k % len(query_codes)] if k % 3 == 2 else codes[first[i]]
        qs.append((" ".join(rng.sample(words, 3)), code))
    gc.collect()
    out: dict[str, float] = {"loaded_per_s": n / load}
    exact_rows = vecindex.EXACT_ROWS  # "exact" switches the sign-code pool off
    times: dict[str, list[float]] = {"lexical": [], "hybrid": [], "exact": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    found: dict[str, list[list[tuple[str, float]]]] = {"hybrid": [], "exact": []}
    for text, code in qs:  # interleaved, so that a loaded machine slows all three alike
        for name in times:
            vecindex.EXACT_ROWS = 1 << 62 if name == "exact" else exact_rows
            c0, t0 = time.process_time(), time.perf_counter()
            hits = node.read.search(text, None, 10, 0, None if name == "lexical" else code)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            if name in found:
                found[name].append([(h.agent.agent_id, h.score) for h in hits])
    vecindex.EXACT_ROWS = exact_rows
    for name, ts in times.items():
        out[f"{name}_p50"] = statistics.median(ts) * 1e3
        out[f"{name}_p99"] = pct(ts, 0.99) * 1e3
        # CPU time of this process (all its threads): what the search costs, whatever else
        # the machine runs (wall time on a shared machine is mostly waiting for a core)
        out[f"{name}_cpu_p50"] = statistics.median(cpu[name]) * 1e3
    # How close the pooled page is to the exact one: shared agents, and score mass.
    pairs = list(zip(found["hybrid"], found["exact"], strict=True))
    out["overlap10"] = (sum(len({a for a, _ in h} & {a for a, _ in e}) for h, e in pairs)
                        / max(1, sum(len(e) for _, e in pairs)))
    out["score_mass"] = (sum(s for h, _ in pairs for _, s in h)
                         / max(1e-9, sum(s for _, e in pairs for _, s in e)))
    times = []
    for text, _ in qs[:100]:
        t0 = time.perf_counter()
        embed_query(text)
        times.append(time.perf_counter() - t0)
    out["embed_query_p50"] = statistics.median(times) * 1e3
    return out


def memory(n: int, pool: Any) -> tuple[float, float]:
    """Bytes per agent of a core node holding ``n`` A2A agents, without and with vectors
    (tracemalloc; numpy's buffers are traced too)."""
    mix = Mix(7)
    records = [mix.record(i) for i in range(n)]
    all_codes = _codes_for(records, pool, 3)
    out = []
    for codes in (None, all_codes):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        node = _node(records, codes)
        gc.collect()
        out.append((tracemalloc.get_traced_memory()[0] - base) / n)
        tracemalloc.stop()
        del node
    return out[0], out[1]


def model_load() -> float:
    """Seconds to import wordllama and load the shipped model, in a fresh process."""
    code = ("import time; t = time.perf_counter()\n"
            "from gossipreg.io.embed import WordLlamaEmbedder\n"
            "WordLlamaEmbedder().load(); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)
    return float(done.stdout.strip())


def embedding_cost(records: list[AgentRecord],
                   codes: Callable[[list[str]], list[bytes]]) -> tuple[float, float]:
    """``(ms per registration, texts per registration)`` of embedding records in batches of
    32, as a node's worker does."""
    texts = [list(evidence_texts(r)) for r in records]
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        codes([t for ts in texts[i:i + 32] for t in ts])
    spent = time.perf_counter() - t0
    return spent / len(records) * 1e3, sum(map(len, texts)) / len(records)


async def _register(cards: list[dict[str, Any]], n: int, embedder: str) -> tuple[float, float]:
    """``(seconds for n register calls, seconds until every record has vectors)`` on a node
    with ``embedder``, yielding to the loop every 50 registrations as a server would."""
    from gossipreg.io.gossip_node import GossipNode
    from gossipreg.io.net.transport import MemoryNetwork

    node = GossipNode("reg", network=MemoryNetwork(),
                      config=NodeConfig.local(heartbeat_timeout=None, embedder=embedder))
    await node.start()
    try:
        if embedder != "off":  # the model loaded before the clock starts
            while node.searching.status()["mode"] != "hybrid":
                await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        for i in range(n):
            node.register(agent_id=f"a{i:06d}", card=cards[i % len(cards)])
            if i % 50 == 49:
                await asyncio.sleep(0)
        calls = time.perf_counter() - t0
        if embedder != "off":
            while node.searching.status().get("agents_with_vectors", 0) < n:
                await asyncio.sleep(0.005)
        return calls, time.perf_counter() - t0
    finally:
        await node.shutdown()


def registration(cards: list[dict[str, Any]], n: int) -> dict[str, float]:
    """Registrations per second with the embedder off and with the local model (one run)."""
    logging.getLogger("gossipreg").setLevel(logging.ERROR)  # the nodes' start-up lines
    _, off_all = asyncio.run(_register(cards, n, "off"))
    on_calls, on_all = asyncio.run(_register(cards, n, "local"))
    return {"off_per_s": n / off_all, "on_calls_per_s": n / on_calls,
            "on_embedded_per_s": n / on_all}
