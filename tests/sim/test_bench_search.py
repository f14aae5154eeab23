"""The search benchmark's relevance part runs over a slice of the labelled set with a stand-in
embedder and gives every ranker, kind and metric a mean inside its interval. Structure only: no
relevance figure is asserted."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gossipreg.core.search.vectors import quantize
from sim.bench.search import relevance

SET = Path(__file__).resolve().parents[2] / "sim" / "bench" / "relevance"


def codes(texts: list[str]) -> list[bytes]:
    out = []
    for t in texts:
        h = hashlib.sha256(t.encode()).digest()
        out.append(quantize([b - 127.5 for b in h[:16]]))
    return out


def test_every_ranker_kind_and_metric_has_a_mean_and_an_interval() -> None:
    records, queries = relevance.load_set(SET)
    kept = {a for q in queries[:12] for a in q["relevant"]}
    res = relevance.evaluate([r for r in records if r.agent_id in kept], queries[:12], codes, 16)
    assert set(res) == set(relevance.RANKERS)
    kinds = {q["kind"] for q in queries[:12]} | {"all"}
    for by_kind in res.values():
        assert set(by_kind) == kinds
        for metrics in by_kind.values():
            assert set(metrics) == set(relevance.METRICS)
            assert all(0.0 <= lo <= m <= hi <= 1.0 for m, lo, hi in metrics.values())
