"""Vector index (numpy and pure Python agree, exactly) and hybrid ranking: clear-case orderings,
filters, the threshold, ties, agents without vectors, feedback from the first result, ARD's
integer score."""

from __future__ import annotations

import random

import pytest

from gossipreg.core.directory.records import make_record
from gossipreg.core.search import hybrid, vecindex
from gossipreg.core.search.hybrid import MIN_SCORE, ard_score
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.terms import MAX_EVIDENCE, evidence_texts
from gossipreg.core.search.vecindex import VectorIndex
from gossipreg.core.search.vectors import VectorError, decode_int8, dot, quantize, quantize_sum
from gossipreg.core.types import AgentRecord, AgentStatus

DIMS = 8


def axis(*weights: float) -> bytes:
    """A code pointing along the given components (the rest 0)."""
    return quantize([*weights, *[0.0] * (DIMS - len(weights))])


def rand_code(rng: random.Random, dims: int) -> bytes:
    return quantize([rng.gauss(0, 1) for _ in range(dims)])


@pytest.mark.parametrize("dims", [8, 256, 512])
def test_numpy_and_pure_python_give_the_exact_dot_products(dims: int) -> None:
    if not vecindex.numpy_available():
        pytest.skip("numpy is not installed: only the pure-Python path exists here")
    rng = random.Random(dims)
    fast, slow = VectorIndex(dims, use_numpy=True), VectorIndex(dims, use_numpy=False)
    live: dict[str, list[bytes]] = {}
    for step in range(1500):  # enough removals to compact several times
        aid = f"a{rng.randrange(200)}"
        if rng.random() < 0.3:
            assert fast.remove(aid) == slow.remove(aid) == (live.pop(aid, None) is not None)
        else:
            codes = [rand_code(rng, dims) for _ in range(rng.randint(1, 8))]
            fast.put(aid, codes)
            slow.put(aid, codes)
            live[aid] = codes
        if step % 250 == 0:
            q = rand_code(rng, dims)
            a, b = fast.scores(q), slow.scores(q)
            for x, codes in live.items():
                assert a.get(x) == b.get(x) == max(dot(q, c) for c in codes)
                assert fast.codes(x) == slow.codes(x) == tuple(codes)
            assert sorted(a.above(-10**9)) == sorted(b.above(-10**9))
            assert len(fast) == len(slow) == len(live)
            assert fast.rows == slow.rows == sum(map(len, live.values()))


def test_vector_index_refuses_codes_of_another_length() -> None:
    v = VectorIndex(DIMS, use_numpy=False)
    with pytest.raises(VectorError):
        v.put("a", [bytes(DIMS + 1)])
    with pytest.raises(VectorError):
        v.scores(bytes(DIMS - 1))
    with pytest.raises(VectorError):
        VectorIndex(513)


def card(name: str, desc: str, *skills: tuple[str, str]) -> dict[str, object]:
    return {"name": name, "description": desc, "capabilities": {}, "skills": [
        {"id": sid, "name": sname, "description": sname, "tags": [], "examples": []}
        for sid, sname in skills]}


def index_of(records: list[tuple[AgentRecord, list[bytes] | None]], *,
             use_numpy: bool | None = None,
             status: dict[str, AgentStatus] | None = None) -> CapabilityIndex:
    idx = CapabilityIndex()
    idx.vectors = VectorIndex(DIMS, use_numpy=use_numpy)
    for r, codes in records:
        st = (status or {}).get(r.agent_id, AgentStatus.ACTIVE)
        idx.put(r.agent_id, r.capabilities, st, r.runtime_id, r.registered_at, r.tags, "n", r)
        if codes:
            idx.vectors.put(r.agent_id, codes)
    return idx


def agents() -> list[tuple[AgentRecord, list[bytes] | None]]:
    vet = make_record("vet", None, "rt1", card=card(
        "PetCare", "veterinary appointments", ("vet-book", "Book a vet visit")), tags=["pets"])
    clinic = make_record("clinic", None, "rt2", card=card(
        "ClinicDesk", "doctor appointments", ("gp-book", "Book a GP")))
    weather = make_record("weather", None, "rt1", card=card(
        "Sky", "weather forecasts", ("fc", "Forecast")))
    plain = make_record("plain", "Vaccination reminders", "rt1", ["reminders"])  # no vectors
    return [(vet, [axis(1, 0.2), axis(0.9, 0, 0.4)]), (clinic, [axis(0.5, 1)]),
            (weather, [axis(0, 0, 0, 1)]), (plain, None)]


@pytest.mark.parametrize("use_numpy", [False, None])
def test_a_need_without_shared_words_is_found_by_its_vector(use_numpy: bool | None) -> None:
    idx = index_of(agents(), use_numpy=use_numpy)
    # "jabs for my puppy" shares no term with any card; its vector is closest to the vet's.
    hits = idx.search("jabs for my puppy", query=axis(1, 0.1))
    assert [a for a, _ in hits] == ["vet", "clinic"]  # weather is far: below the threshold
    assert hits[0][1] > hits[1][1] >= MIN_SCORE
    assert idx.search("jabs for my puppy") == []  # lexical only: nothing shares a word
    # A far query stays a miss: no term, no vector close enough.
    assert idx.search("zzqx unheard", query=axis(0, 0, 0, 0, 0, 0, 0, 1)) == []


def test_lexical_and_vector_evidence_add_up_and_agents_without_vectors_count() -> None:
    idx = index_of(agents())
    hits = dict(idx.search("vaccination appointments", query=axis(1, 0.1)))
    # The vet has both kinds of evidence; "plain" has no vectors: scored on its words alone.
    assert set(hits) == {"vet", "clinic", "plain"}
    assert hits["vet"] > hits["clinic"]
    assert 0 < hits["plain"] < 1
    weather = idx.search("weather forecasts", query=axis(0, 0, 0.3, 1))
    assert [a for a, _ in weather] == ["weather"] and weather[0][1] > 0.9


def test_filters_select_and_ties_go_by_id() -> None:
    recs = agents()
    twin = make_record("a-twin", None, "rt1", card=card(
        "PetCare", "veterinary appointments", ("vet-book", "Book a vet visit")), tags=["pets"])
    recs.append((twin, [axis(1, 0.2), axis(0.9, 0, 0.4)]))
    idx = index_of(recs, status={"clinic": AgentStatus.OFFLINE})
    q = axis(1, 0.1)
    hits = idx.search("vet visit", query=q)
    assert [a for a, _ in hits] == ["a-twin", "vet"]  # same score: by id; clinic is OFFLINE
    assert hits[0][1] == hits[1][1]
    assert [a for a, _ in idx.search("vet visit", query=q, status=None)] == [
        "a-twin", "vet", "clinic"]
    assert [a for a, _ in idx.search("vet visit", query=q, tags=["PETS"], runtime_id="rt1",
                                     accept=lambda a: a != "a-twin")] == ["vet"]
    assert [a for a, _ in idx.search("vet visit", query=q, offset=1, limit=1)] == ["vet"]
    # A code of another length (another model) is not used: lexical ranking.
    assert idx.search("vet visit", query=bytes(4)) == idx.search("vet visit")


def test_numpy_and_pure_python_rank_alike() -> None:
    rng = random.Random(5)
    recs: list[tuple[AgentRecord, list[bytes] | None]] = []
    words = ["pay", "ship", "book", "scan", "plan", "sum", "tax", "fix"]
    for i in range(120):
        r = make_record(f"a{i:03d}", " ".join(rng.sample(words, 2)), "rt",
                        rng.sample(words, 3), description=" ".join(rng.sample(words, 4)))
        recs.append((r, [rand_code(rng, DIMS) for _ in range(rng.randint(1, 3))]
                     if i % 7 else None))
    a, b = index_of(recs, use_numpy=False), index_of(recs)
    for _ in range(30):
        text, q = " ".join(rng.sample(words, 2)), rand_code(rng, DIMS)
        assert a.search(text, query=q) == b.search(text, query=q)
        assert a.search(text, query=q, limit=5, offset=2) == b.search(text, query=q)[2:7]


def test_evidence_texts_and_ard_score() -> None:
    r = make_record("x", None, "rt", card={
        "name": "Acme", "description": "does things", "capabilities": {},
        "skills": [{"id": f"s{i}", "name": f"skill {i}", "description": "d", "tags": ["t"],
                    "examples": ["e.g."]} for i in range(10)]})
    texts = evidence_texts(r)
    assert len(texts) == MAX_EVIDENCE
    assert texts[0].startswith("Acme. does things skill 0.") and "skill 9." in texts[0]
    assert texts[1] == "skill 0. d t e.g."
    plain = make_record("p", "Pinger", "rt", ["ping hosts"], tags=["net"])
    assert evidence_texts(plain) == ("Pinger. ping hosts net",)
    assert [ard_score(s) for s in (0.0, 0.114, 0.5, 1.2, -1)] == [0, 11, 50, 100, 0]


def test_a_skill_id_is_a_capability_string() -> None:
    idx = CapabilityIndex()
    r = make_record("fx", None, "rt", card=card("FX", "money", ("fx-convert", "Conversion")))
    idx.put(r.agent_id, r.capabilities, AgentStatus.ACTIVE, "rt", 0.0, r.tags, "n", r)
    from gossipreg.core.search.query import Query

    assert idx.find(Query.of("fx-convert")) == ["fx"]
    assert idx.find(Query.of("conversion")) == ["fx"]  # the name, as before
    idx.remove("fx")
    assert idx.find(Query.of("fx-convert")) == [] and idx.distinct_capabilities() == 0


def test_the_top_of_a_page_is_the_full_rankings_head() -> None:
    # Enough agents that a page is found from the best few of each kind of evidence.
    rng = random.Random(8)
    words = [f"w{i}" for i in range(40)]
    recs: list[tuple[AgentRecord, list[bytes] | None]] = []
    status: dict[str, AgentStatus] = {}
    for i in range(700):
        r = make_record(f"a{i:03d}", " ".join(rng.sample(words, 2)), f"rt{i % 3}",
                        rng.sample(words, 2), description=" ".join(rng.sample(words, 6)),
                        tags=[f"t{i % 5}"])
        recs.append((r, [rand_code(rng, DIMS) for _ in range(rng.randint(1, 3))]
                     if i % 9 else None))
        if i % 11 == 0:
            status[r.agent_id] = AgentStatus.OFFLINE
    for use_numpy in ([False, True] if vecindex.numpy_available() else [False]):
        idx = index_of(recs, use_numpy=use_numpy, status=status)
        for trial in range(60):
            text, q = " ".join(rng.sample(words, rng.randint(1, 5))), rand_code(rng, DIMS)
            kw = [{}, {"tags": ["t1"]}, {"runtime_id": "rt2", "status": None}][trial % 3]
            full = idx.search(text, query=q, **kw)  # type: ignore[arg-type]
            for limit, offset in ((1, 0), (10, 0), (10, 5), (3, 40)):
                assert idx.search(text, query=q, limit=limit, offset=offset,
                                  **kw) == full[offset:offset + limit]  # type: ignore[arg-type]


def test_at_scale_a_sign_code_pool_gives_exact_scores_in_any_insertion_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not vecindex.numpy_available():
        pytest.skip("the sign-code pool needs numpy")
    from gossipreg.core.search import hybrid

    monkeypatch.setattr(hybrid, "POOL_ROWS", 64)  # a small pool over a few hundred agents
    dims = 32
    rng = random.Random(11)
    words = [f"w{i}" for i in range(30)]
    recs: list[tuple[AgentRecord, list[bytes] | None]] = []
    for i in range(600):
        r = make_record(f"a{i:03d}", " ".join(rng.sample(words, 2)), f"rt{i % 4}",
                        rng.sample(words, 2), description=" ".join(rng.sample(words, 5)))
        recs.append((r, [rand_code(rng, dims) for _ in range(rng.randint(1, 3))]
                     if i % 10 else None))

    def build(order: list[tuple[AgentRecord, list[bytes] | None]],
              exact_rows: int) -> CapabilityIndex:
        idx = CapabilityIndex()
        idx.vectors = VectorIndex(dims, exact_rows=exact_rows)
        for r, codes in order:
            idx.put(r.agent_id, r.capabilities, AgentStatus.ACTIVE, r.runtime_id,
                    r.registered_at, r.tags, "n", r)
            if codes:
                idx.vectors.put(r.agent_id, codes)
        return idx

    exact = build(recs, exact_rows=1 << 30)
    shuffled = recs[:]
    rng.shuffle(shuffled)
    pooled = build(shuffled, exact_rows=0)
    other = build(recs, exact_rows=0)
    for r, codes in recs[:150]:  # replaced and removed agents leave dead rows behind
        if codes:
            other.vectors.put(r.agent_id, [rand_code(rng, dims)])
            other.vectors.put(r.agent_id, codes)
    assert pooled.vectors is not None and pooled.vectors.prefilters
    for trial in range(40):
        i = rng.randrange(len(recs))
        r, codes = recs[i]
        q = codes[0] if codes else rand_code(rng, dims)
        text = " ".join(rng.sample(words, 2))
        kw = [{}, {"runtime_id": "rt1"}][trial % 2]
        full = dict(exact.search(text, query=q, **kw))  # type: ignore[arg-type]
        page = pooled.search(text, query=q, limit=10, **kw)  # type: ignore[arg-type]
        assert page == other.search(text, query=q, limit=10, **kw)  # type: ignore[arg-type]
        assert len(page) == min(10, len(full))  # filters do not leave the page short
        assert all(full[a] == s for a, s in page)  # every score is the exact one
        assert [s for _, s in page] == sorted((s for _, s in page), reverse=True)
        if codes and not kw:  # the agent whose own code is the query is found
            assert r.agent_id in {a for a, _ in page} or page[-1][1] >= full[r.agent_id]


def test_lexical_top_takes_every_tie_of_the_kth_in_any_insertion_order() -> None:
    from gossipreg.core.search.rank import LexicalRanker

    recs = [make_record(f"a{i:02d}", "alpha beta" if i % 2 else "alpha gamma", "rt", ["x"])
            for i in range(60)]
    forward, backward = LexicalRanker(), LexicalRanker()
    for r in recs:
        forward.put(r.agent_id, r)
    for r in reversed(recs):
        backward.put(r.agent_id, r)
    ties = {r.agent_id for r in recs[1::2]}  # 30 agents with the same best score
    assert set(forward.top("alpha beta", 5)) == set(backward.top("alpha beta", 5)) == ties


def test_word_order_in_names_and_keywords_counts() -> None:
    en_ja = make_record("en-ja", None, "rt", card=card(
        "Bridge", "translating documents", ("en-ja", "English to Japanese translation")))
    ja_en = make_record("ja-en", None, "rt", card=card(
        "Reader", "translating documents", ("ja-en", "Japanese to English translation")))
    idx = index_of([(en_ja, None), (ja_en, None)])
    assert [a for a, _ in idx.search("english to japanese")] == ["en-ja", "ja-en"]
    assert [a for a, _ in idx.search("japanese into english")] == ["ja-en", "en-ja"]
    assert [a for a, _ in idx.search("scanning")] == []  # nothing scans here
    assert {a for a, _ in idx.search("translated")} == {"en-ja", "ja-en"}  # verb endings


def test_sign_distances_read_in_blocks_equal_a_plain_popcount_and_the_kth_is_the_sorted_kth(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not vecindex.numpy_available():
        pytest.skip("sign codes need numpy")
    import numpy as np

    from gossipreg.core.search import signs

    monkeypatch.setattr(signs, "BLOCK", 64)  # several blocks and a partial last one
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**63, size=(3, 1000), dtype=np.uint64)
    query = rng.integers(0, 2**63, size=3, dtype=np.uint64)
    got = signs.Scratch(np).distances(bits, query, np.empty(1000, dtype=np.uint16))
    plain = [sum(bin(int(bits[w, i]) ^ int(query[w])).count("1") for w in range(3))
             for i in range(1000)]
    assert got.tolist() == plain
    for k in (1, 7, 500, 1000):
        assert signs.kth_distance(np, got, k) == sorted(plain)[k - 1]


def test_lexical_scores_of_every_match_at_once_are_the_rankers_integers() -> None:
    if not vecindex.numpy_available():
        pytest.skip("the at-scale ranking needs numpy")
    import numpy as np

    from gossipreg.core.search.hybrid import _lexical_micro
    from gossipreg.core.search.rank import LexicalRanker

    rng = random.Random(3)
    words = [f"w{i}" for i in range(40)]
    ranker = LexicalRanker()
    for step in range(400):  # replaced and removed agents leave dead slots in the postings
        aid = f"a{rng.randrange(120)}"
        if step % 7 == 0:
            ranker.remove(aid)
        else:
            ranker.put(aid, make_record(aid, " ".join(rng.sample(words, 2)), "rt",
                                        rng.sample(words, 3),
                                        description=" ".join(rng.choices(words, k=12))))
    for _ in range(30):
        text = " ".join(rng.sample(words, rng.randint(1, 4)))
        slots, lex = _lexical_micro(np, ranker, text)
        got = {a: v for a, v in zip(ranker.agents_at(slots.tolist()), lex.tolist(),
                                    strict=True) if a}
        assert got == {a: round(v * 1_000_000) for a, v in ranker.scores(text).items()}
    assert _lexical_micro(np, ranker, "nothing matches this")[0].tolist() == []


@pytest.mark.parametrize("use_numpy", [False, None])
def test_the_first_results_neighbours_come_next_and_filters_never_change_a_score(
        use_numpy: bool | None, monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [(make_record(aid, None, "rt", card=card(name, desc, (aid, name))), [code])
            for aid, name, desc, code in (
                ("kube", "Kube", "pods", axis(1, 1)),         # the best match
                ("logs", "Logs", "lines", axis(0.2, 1)),      # its neighbour, far from the query
                ("noise", "Noise", "misc", axis(0.4, 0, 1)))]  # nearer the query, not the match
    idx = index_of(recs, use_numpy=use_numpy)
    q = axis(1)  # shares no word with any card: vectors alone
    with monkeypatch.context() as m:
        m.setattr(hybrid, "FEEDBACK", 0.0)
        assert [a for a, _ in idx.search("qqq", query=q)] == ["kube", "noise", "logs"]
    hits = idx.search("qqq", query=q)
    # Feedback: the query's code plus the best match's, so the match's neighbour comes next.
    assert [a for a, _ in hits] == ["kube", "logs", "noise"]
    q2 = quantize([a + hybrid.FEEDBACK * b for a, b in zip(decode_int8(q), decode_int8(axis(1, 1)),
                                                             strict=True)])
    assert dict(hits)["logs"] == 3 * (dot(q2, axis(0.2, 1)) * 10**6 // 127**2) / (5 * 10**6)
    # The feedback code comes from every agent, whatever the filters: a filter that drops the
    # best match changes which agents are shown, never their scores.
    assert idx.search("qqq", query=q, accept=lambda a: a != "kube") == hits[1:]
    assert idx.search("qqq", query=q, limit=1, offset=1) == hits[1:2]
    # A query near no agent is still a miss.
    assert idx.search("qqq", query=axis(0, 0, 0, 0, 0, 0, 0, 1)) == []


def test_quantize_sum_is_quantize_of_the_sum() -> None:
    rng = random.Random(11)
    for dims in (1, 8, 256, 512):
        for weight in (0.25, 0.5, 1.0, 2.0):
            a, b = rand_code(rng, dims), rand_code(rng, dims)
            assert quantize_sum(a, b, weight) == quantize(
                [x + weight * y for x, y in zip(decode_int8(a), decode_int8(b), strict=True)])
    assert quantize_sum(axis(1), axis(-1), 1.0) == bytes(DIMS)  # a zero sum: the zero code
    with pytest.raises(VectorError):
        quantize_sum(bytes(4), bytes(5), 1.0)
