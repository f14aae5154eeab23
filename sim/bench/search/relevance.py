"""Relevance of four rankers on a labelled set (``cards.json`` + ``queries.json``).

Rankers, all over the same records in one core index: ``substring`` (kaizen's
``find_agents_by_capability``: the query as one case-insensitive substring of a capability
string, ranked by word overlap), ``lexical`` (BM25F), ``vector`` (the best cosine of the query's
code with the agent's codes alone) and ``hybrid`` (what a node with the local model answers).

Metrics per query, then averaged per kind and overall: nDCG@10 (gain = the grade, 1-3; the
ideal ranking from all labels), recall@5 (labelled agents, any grade, in the first five, over
all labelled) and MRR@10 (1 / rank of the first labelled agent within ten, else 0). The 95%
interval of each mean is a percentile bootstrap over the queries (2,000 resamples, seeded).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gossipreg.core.directory.records import make_record
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.query import Query
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vecindex import VectorIndex
from gossipreg.core.types import AgentRecord, AgentStatus

__all__ = ["METRICS", "RANKERS", "Result", "evaluate", "load_set"]

RANKERS = ("substring", "lexical", "vector", "hybrid")
METRICS = ("ndcg10", "recall5", "mrr10")
Result = dict[str, dict[str, dict[str, tuple[float, float, float]]]]  # ranker/kind/metric


def load_set(folder: Path) -> tuple[list[AgentRecord], list[dict[str, Any]]]:
    """The records of the set's cards and its queries."""
    cards = json.loads((folder / "cards.json").read_text(encoding="utf-8"))
    queries = json.loads((folder / "queries.json").read_text(encoding="utf-8"))
    records = [make_record(c["agent_id"], None, "rt", card=c["card"], registered_at=1.0 + i)
               for i, c in enumerate(cards)]
    return records, queries


def ndcg(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    dcg = sum(rel.get(a, 0) / math.log2(i + 2) for i, a in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: Sequence[str], rel: dict[str, int], k: int = 5) -> float:
    return len(set(ranked[:k]) & set(rel)) / len(rel)


def mrr(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, a in enumerate(ranked[:k]) if a in rel), 0.0)


def bootstrap(values: list[float], rng: random.Random, n: int = 2000) -> tuple[float, float]:
    """The percentile 95% interval of the mean of ``values``."""
    means = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(n))
    return means[int(0.025 * n)], means[int(0.975 * n) - 1]


def build(records: list[AgentRecord], codes: Callable[[list[str]], list[bytes]],
          dims: int) -> CapabilityIndex:
    """A core index over ``records`` with vectors of their evidence texts."""
    idx = CapabilityIndex()
    idx.vectors = VectorIndex(dims)
    for r in records:
        idx.put(r.agent_id, r.capabilities, AgentStatus.ACTIVE, r.runtime_id, r.registered_at,
                r.tags, "n", r)
        idx.vectors.put(r.agent_id, codes(list(evidence_texts(r))))
    return idx


def rankings(idx: CapabilityIndex, text: str, code: bytes) -> dict[str, list[str]]:
    """The first ten agents of each ranker for one query."""
    vectors = idx.vectors
    assert vectors is not None
    by_vec = sorted(vectors.scores(code).above(-(1 << 40)), key=lambda x: (-x[1], x[0]))
    return {
        "substring": idx.find(Query.of(text, limit=10)),
        "lexical": [a for a, _ in idx.search(text, limit=10)],
        "vector": [a for a, _ in by_vec[:10]],
        "hybrid": [a for a, _ in idx.search(text, limit=10, query=code)],
    }


def evaluate(records: list[AgentRecord], queries: list[dict[str, Any]],
             codes: Callable[[list[str]], list[bytes]], dims: int, seed: int = 1,
             query_codes: Callable[[list[str]], list[bytes]] | None = None) -> Result:
    """Mean and 95% interval of each metric, per ranker and kind (and ``all``). ``codes``
    embeds evidence texts, ``query_codes`` (default: ``codes``) the queries."""
    idx = build(records, codes, dims)
    qcodes = (query_codes or codes)([q["text"] for q in queries])
    per: dict[str, dict[str, dict[str, list[float]]]] = {
        r: {} for r in RANKERS}
    for q, code in zip(queries, qcodes, strict=True):
        got = rankings(idx, q["text"], code)
        for ranker, ranked in got.items():
            for kind in (q["kind"], "all"):
                m = per[ranker].setdefault(kind, {k: [] for k in METRICS})
                m["ndcg10"].append(ndcg(ranked, q["relevant"]))
                m["recall5"].append(recall(ranked, q["relevant"]))
                m["mrr10"].append(mrr(ranked, q["relevant"]))
    rng = random.Random(seed)
    out: Result = {}
    for ranker, kinds in per.items():
        for kind, metrics in kinds.items():
            for metric, values in metrics.items():
                lo, hi = bootstrap(values, rng)
                out.setdefault(ranker, {}).setdefault(kind, {})[metric] = (
                    sum(values) / len(values), lo, hi)
    return out
