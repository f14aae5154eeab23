"""The lexical ranker (incremental = rebuilt from scratch = any arrival order, field weights,
normalised scores) and
ARD's pure parts (URN encoding, filters, facets, page tokens)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.ard import (
    compile_filter,
    decode_page_token,
    encode_page_token,
    facets,
    is_identifier,
    iso_utc,
    parse_urn,
    urn_of,
)
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.rank import LexicalRanker, terms
from gossipreg.core.types import AgentRecord, AgentStatus, AgentView

WORDS = ["currency", "conversion", "summarize", "contract", "python", "code", "weather",
         "forecast", "flight", "booking", "translate", "french", "invoice", "expense", "travel",
         "map", "route", "image", "resize"]


def rec(i: int, rng: random.Random) -> AgentRecord:
    words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    card = {"name": words(2), "capabilities": {}, "skills": [
        {"id": f"s{j}", "name": words(2), "description": words(6), "tags": [rng.choice(WORDS)],
         "examples": [words(5)]} for j in range(rng.randrange(0, 3))]}
    # a word of one or a few documents: postings kept as plain ints, then grown, then removed
    rare = f"rare{i % 97}v{rng.randrange(3)}"
    return make_record(f"a{i}", None, "rt", card=card, description=f"{words(8)} {rare}")


def test_incremental_equals_rebuilt() -> None:
    rng = random.Random(7)
    live: dict[str, AgentRecord] = {}
    inc = LexicalRanker()
    for step in range(3000):  # enough removals to compact several times
        i = rng.randrange(300)
        r = rec(i, rng)
        if rng.random() < 0.35:
            inc.remove(r.agent_id)
            live.pop(r.agent_id, None)
        else:
            inc.put(r.agent_id, r)
            live[r.agent_id] = r
        if step % 500 == 499:
            fresh = LexicalRanker()
            for aid, x in live.items():
                fresh.put(aid, x)
            assert len(inc) == len(live)
            assert len(inc._recs) < step  # replaced and removed slots were compacted away
            queries = ("currency", "python code", "flight to paris", "invoices expense travel",
                       "rare5v1", "rare7v0 currency", "rare96v2 rare1v1")
            # Impacts depend on their record alone: equal to a ranker built from scratch.
            for q in queries:
                assert inc.scores(q) == fresh.scores(q)


def test_scores_do_not_depend_on_the_order_records_came_in() -> None:
    rng = random.Random(3)
    recs = [rec(i, rng) for i in range(400)]
    a, b = LexicalRanker(), LexicalRanker()
    for r in recs:
        a.put(r.agent_id, r)
    shuffled = recs[:]
    rng.shuffle(shuffled)
    for r in shuffled + shuffled[:100]:  # some put twice: replaced, left dead, compacted
        b.put(r.agent_id, r)
    for q in ("currency", "python code translate", "rare5v1 weather forecast"):
        assert a.scores(q) == b.scores(q)


def test_top_k_equals_the_head_of_the_full_ranking() -> None:
    rng = random.Random(11)
    r = LexicalRanker()
    for i in range(600):
        x = rec(i, rng)
        r.put(x.agent_id, x)
    for trial in range(200):
        q = " ".join(rng.sample(WORDS, rng.randint(1, 4)))
        k = rng.randint(1, 30)
        odd = trial % 2 == 0
        accept = (lambda a: int(a[1:]) % 3 != 0) if odd else None
        # (sums in another order: equal to 1e-12, so compare rounded)
        full = {a: round(v, 9) for a, v in r.scores(q).items() if accept is None or accept(a)}
        want = sorted(full.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        got = {a: round(v, 9) for a, v in r.top(q, k, accept).items()}
        assert set(got) <= set(full) and all(got[a] == full[a] for a in got)
        head = sorted(got.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        assert head == want, q


def test_fields_are_weighted_and_scores_normalised() -> None:
    r = LexicalRanker()
    r.put("n", make_record("n", "Weather", "rt", ["x"], description="does things"))
    r.put("d", make_record("d", "Helper", "rt", ["x"], description="weather things"))
    s = r.scores("weather")
    assert s["n"] > s["d"] > 0  # a name hit beats a description hit
    assert all(0 < v < 1 for v in s.values())
    assert r.scores("zebra") == {}
    assert terms("Currencies, FX-rates & the Examples") == ["currency", "fx", "rate", "example"]


def test_index_search_filters_and_pages() -> None:
    idx = CapabilityIndex()
    for i, status in enumerate((AgentStatus.ACTIVE, AgentStatus.ACTIVE, AgentStatus.OFFLINE)):
        r = make_record(f"a{i}", f"weather agent {i}", "rt", ["w"], registered_at=float(i))
        idx.put(r.agent_id, r.capabilities, status, r.runtime_id, r.registered_at, r.tags, "n",
                r)
    assert [a for a, _ in idx.search("weather")] == ["a0", "a1"]  # ties: by id
    assert [a for a, _ in idx.search("weather", status=None, offset=1, limit=1)] == ["a1"]
    idx.remove("a0")
    assert [a for a, _ in idx.search("weather")] == ["a1"]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")),
               min_size=1, max_size=60).filter(str.isprintable))
def test_urn_is_reversible(agent_id: str) -> None:
    r = make_record(agent_id, "n", "rt", [])
    urn = urn_of(r)
    assert parse_urn(urn) == agent_id and is_identifier(urn)
    name = urn.rsplit(":", 1)[1]
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


def test_plain_ids_are_unchanged_and_foreign_urns_refused() -> None:
    assert urn_of(make_record("fx_desk-2.0", "n", "rt", [])) == \
        "urn:air:agent.localhost:agent:fx_desk-2.0"
    assert urn_of(make_record("a:b", "n", "rt", [])) == "urn:air:agent.localhost:agent-x:a_3ab"
    for bad in ("urn:air:x.com:other:a", "urn:air:x.com:agent-x:a_zz", "urn:air:x.com:agent-x:a_",
                "urn:air:x.com:agent-x:plain", "urn:air:x.com:agent-x:_ff"):
        assert parse_urn(bad) is None and is_identifier(bad)  # well formed, not ours
    for malformed in ("fx", "urn:air:x.com:agent", "urn:air::agent:a", "URN:AIR:x:agent:a"):
        assert not is_identifier(malformed) and parse_urn(malformed) is None


def view(r: AgentRecord, status: AgentStatus = AgentStatus.ACTIVE) -> AgentView:
    return AgentView(r, "n", status, 0.0, 0)


def test_filters_or_within_and_across_default_active() -> None:
    card = {"name": "fx", "capabilities": {}, "provider": {"organization": "A", "url":
                                                            "https://acme.example/x"},
            "skills": [{"id": "fx-convert", "name": "conv", "tags": ["finance", "fx"]}]}
    a = view(make_record("a", None, "rt1", card=card))
    b = view(make_record("b", "b", "rt2", ["x"], tags=["travel"]))
    off = view(make_record("c", "c", "rt1", ["x"], tags=["finance"]), AgentStatus.OFFLINE)
    match = lambda f: [v.agent_id for v in (a, b, off) if compile_filter(f)(v)]  # noqa: E731
    assert match(None) == ["a", "b"]
    assert match({"tags": ["FINANCE", "travel"]}) == ["a", "b"]
    assert match({"tags": "finance", "runtime": "rt2"}) == []
    assert match({"tags": "finance", "status": ["active", "offline"]}) == ["a", "c"]
    assert match({"skills.id": "fx-convert"}) == ["a"]
    assert match({"publisher": "acme.example"}) == ["a"]
    for bad in ({"nope": "x"}, {"tags": 3}, {"tags": []}, ["tags"]):
        with pytest.raises(InvalidArgumentError):
            compile_filter(bad)
    fac = facets([a, b, off], [{"field": "tags", "limit": 1}, {"field": "runtime"}])
    assert fac["tags"] == {"buckets": [{"value": "finance", "count": 2}], "otherCount": 2}
    assert fac["runtime"]["buckets"] == [{"value": "rt1", "count": 2},
                                         {"value": "rt2", "count": 1}]


def test_page_tokens_and_dates() -> None:
    assert decode_page_token(encode_page_token(40)) == 40
    for bad in ("zz", 5, "x" * 100, encode_page_token(3)[:-1] + "!"):
        with pytest.raises(InvalidArgumentError):
            decode_page_token(bad)
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1709210096.9) == "2024-02-29T12:34:56Z"
