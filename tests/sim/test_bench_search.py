"""The search benchmark's relevance part runs over a slice of the labelled set with a stand-in
embedder and gives every ranker, kind and metric a mean inside its interval; the keyword study
re-fuses the node's own evidence exactly as the node ranks it. Structure only: no relevance
figure is asserted."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from gossipreg.core.search import hybrid
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vectors import quantize
from sim.bench.search import keyword, model_codes, relevance
from tests.embed._embedkit import StandIn, need_semantic, serve, text_vector

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


def test_the_keyword_study_chooses_on_odd_ids_and_reports_even_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    records, queries = relevance.load_set(SET)
    some = [q for q in queries if q["kind"] == "keyword"][:6] + \
        [q for q in queries if q["kind"] == "need"][:4]
    kept = {a for q in some for a in q["relevant"]}
    ev = keyword.evidence([r for r in records if r.agent_id in kept], some, codes, 16)
    assert [e["q"]["id"] for e in ev] == [q["id"] for q in some]
    for e in ev:
        assert set(e["cos"]) == kept and all(-1.01 <= c <= 1.01 for cs in e["cos"].values()
                                             for c in cs)
        assert all(0 <= in_kw <= in_any <= known for in_any, in_kw, known in e["words"].values())
    # The node's rule re-fused offline ranks exactly as the node does on the same evidence,
    # with feedback and without.
    idx = relevance.build([r for r in records if r.agent_id in kept], codes, 16)
    for e, code in zip(ev, codes([q["text"] for q in some]), strict=True):
        assert keyword.ranked(keyword.feedback(hybrid.FEEDBACK)(e), keyword.FLOOR) == \
            relevance.rankings(idx, e["q"]["text"], code)["hybrid"]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(hybrid, "FEEDBACK", 0.0)
            assert keyword.ranked(keyword.weighted(0.4)(e), keyword.FLOOR) == \
                relevance.rankings(idx, e["q"]["text"], code)["hybrid"]
    keyword.report(ev)
    out = capsys.readouterr().out
    assert "reported on the even ids" in out
    assert all(name in out for name in keyword.FAMILIES)


def test_another_model_is_judged_through_the_nodes_own_embedder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``--embedder openai:...``: each text goes once through the product's OpenAI embedder (the
    real ``openai`` client against a stand-in server), passages and queries apart, and the
    codes the ranking reads are the node's quantisation of the server's vectors."""
    need_semantic("openai")
    monkeypatch.setenv("OPENAI_API_KEY", "none")
    records, queries = relevance.load_set(SET)
    queries = queries[:4]
    kept = {a for q in queries for a in q["relevant"]}
    records = [r for r in records if r.agent_id in kept]
    stand_in = StandIn(dims=8)

    async def embed() -> model_codes.Codes:
        async with serve(stand_in) as url:
            # embed_set runs its own event loop: give it a thread of its own
            return await asyncio.to_thread(model_codes.embed_set,
                                           f"openai:stand-in@{url}/v1,center=off", records,
                                           queries, 5)

    got = asyncio.run(embed())
    passages = list(dict.fromkeys(t for r in records for t in evidence_texts(r)))
    sent = [t for _, body, _ in stand_in.requests for t in body["input"]]
    assert sent == passages + list(dict.fromkeys(q["text"] for q in queries))
    assert got.dims == 8 and got.texts == len(sent)
    assert got.passages(passages[:2]) == [quantize(text_vector(t, 8)) for t in passages[:2]]
    with pytest.raises(KeyError):  # a text outside the set has no code
        got.passages([queries[0]["text"] + " (not in the set)"])
    res = relevance.evaluate(records, queries, got.passages, got.dims,
                             query_codes=got.queries)
    assert set(res) == set(relevance.RANKERS)
