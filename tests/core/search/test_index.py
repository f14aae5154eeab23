"""The capability index returns exactly what a brute-force scan with kaizen's semantics returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gossipreg.core.search.index as index_module
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentRecord, AgentStatus

STATUSES = list(AgentStatus)
# Small alphabets make substring hits likely; unicode, regex metacharacters and whitespace
# are in on purpose.
ALPHABET = "abcAB .*+?[](){}|^$\\\tß\u0130Ωé"
text = st.text(alphabet=ALPHABET, max_size=12)
caps = st.lists(st.one_of(text, st.sampled_from(["Python code generation", "data analysis",
                                                  "Content writing", "code review"])),
                max_size=4)
agent = st.fixed_dictionaries({
    "caps": caps,
    "status": st.sampled_from(STATUSES),
    "runtime": st.sampled_from(["r1", "r2"]),
    "tags": st.lists(st.sampled_from(["gpu", "eu", "GPU"]), max_size=2),
})
action = st.one_of(
    st.tuples(st.just("upsert"), st.integers(0, 9), agent),
    st.tuples(st.just("remove"), st.integers(0, 9), st.none()),
    st.tuples(st.just("status"), st.integers(0, 9), st.sampled_from(STATUSES)),
)
query = st.one_of(text, st.lists(text, min_size=1, max_size=3),
                  st.sampled_from(["", "a", "co", "code", "python code", "DATA"]))


def brute(agents: dict[str, dict[str, Any]], q: str | list[str], status: AgentStatus | None,
          runtime: str | None, tags: list[str], limit: int | None, offset: int) -> list[str]:
    """kaizen's scan: substring in any capability, overlap ranking, stable order."""
    terms = [q] if isinstance(q, str) else (q or [""])
    out = []
    for aid, a in agents.items():
        lowered = [c.lower() for c in a["caps"]]
        if not all(any(t.lower() in c for c in lowered) for t in terms):
            continue
        if status is not None and a["status"] is not status:
            continue
        if runtime is not None and a["runtime"] != runtime:
            continue
        if not {t.lower() for t in tags} <= {t.lower() for t in a["tags"]}:
            continue
        words = set(" ".join(lowered).split())
        score = sum(len(set(t.lower().split()) & words) for t in terms)
        out.append((-score, a["order"], aid))
    out.sort()
    end = None if limit is None else offset + limit
    return [aid for _, _, aid in out[offset:end]]


@settings(max_examples=300, deadline=None)
@given(actions=st.lists(action, max_size=25), q=query,
       status=st.one_of(st.none(), st.sampled_from(STATUSES)),
       runtime=st.one_of(st.none(), st.sampled_from(["r1", "r2"])),
       tags=st.lists(st.sampled_from(["gpu", "eu"]), max_size=1),
       limit=st.one_of(st.none(), st.integers(0, 5)), offset=st.integers(0, 3))
def test_index_matches_brute_force(actions: list[Any], q: str | list[str],
                                   status: AgentStatus | None, runtime: str | None,
                                   tags: list[str], limit: int | None, offset: int) -> None:
    idx = CapabilityIndex()
    model: dict[str, dict[str, Any]] = {}
    for n, (kind, i, arg) in enumerate(actions):
        _step(idx, model, kind, f"a{i}", arg, n)
    got = idx.find(Query.of(q, status=status, runtime_id=runtime, tags=tags, limit=limit,
                             offset=offset))
    assert got == brute(model, q, status, runtime, tags, limit, offset)
    assert len(idx) == len(model)


def test_ranking_by_word_overlap_then_registration_order() -> None:
    idx = CapabilityIndex()
    idx.upsert("late", ["code generation"], status=AgentStatus.ACTIVE, runtime_id="r",
               registered_at=2.0)
    idx.upsert("early", ["generation of code"], status=AgentStatus.ACTIVE, runtime_id="r",
               registered_at=1.0)
    idx.upsert("weak", ["decoder"], status=AgentStatus.ACTIVE, runtime_id="r",
               registered_at=0.0)
    assert idx.find(Query.of("code")) == ["early", "late", "weak"]
    assert idx.find(Query.of("code generation")) == ["late"]
    assert idx.find(Query.of(["code", "generation"])) == ["early", "late"]


def test_bad_input_raises_typed_errors() -> None:
    idx = CapabilityIndex()
    with pytest.raises(InvalidArgumentError):
        idx.upsert("a", [1], status=AgentStatus.ACTIVE, runtime_id="r",  # type: ignore[list-item]
                   registered_at=0.0)
    assert "a" not in idx
    with pytest.raises(InvalidArgumentError):
        Query.of("x", limit=-1)
    with pytest.raises(InvalidArgumentError):
        Query.of(5)  # type: ignore[arg-type]


def test_compaction_keeps_results() -> None:
    idx = CapabilityIndex()
    for i in range(3000):
        idx.upsert(f"a{i}", [f"unique skill {i}", "shared"], status=AgentStatus.ACTIVE,
                   runtime_id="r", registered_at=float(i))
    for i in range(0, 3000, 2):
        idx.remove(f"a{i}")
    assert idx.find(Query.of("skill 2999")) == ["a2999"]
    assert len(idx.find(Query.of("shared", limit=None))) == 1500
    assert idx.distinct_capabilities() == 1501


def _record(aid: str, a: dict[str, Any]) -> AgentRecord:
    return AgentRecord(aid, f"agent {aid}", a["runtime"], tuple(a["caps"]), tags=tuple(a["tags"]),
                       registered_at=a["order"][0])


def _upsert(idx: CapabilityIndex, aid: str, a: dict[str, Any], with_record: bool) -> None:
    """As the directory puts a record (the ranker takes it too), or as kaizen's upsert."""
    if with_record:
        r = _record(aid, a)
        idx.put(aid, r.capabilities, a["status"], r.runtime_id, r.registered_at, r.tags, "n1", r)
    else:
        idx.upsert(aid, a["caps"], status=a["status"], runtime_id=a["runtime"],
                   registered_at=a["order"][0], tags=a["tags"])


def _step(idx: CapabilityIndex, model: dict[str, dict[str, Any]], kind: str, aid: str,
          arg: Any, at: int, with_record: bool = False) -> None:
    """One generated action on the index and on the brute-force model alike."""
    if kind == "upsert":
        a = dict(arg, order=(float(at), aid))
        _upsert(idx, aid, a, with_record)
        model[aid] = a
    elif kind == "remove":
        assert idx.remove(aid) == (aid in model)
        model.pop(aid, None)
    elif aid in model:
        idx.set_status(aid, arg)
        model[aid]["status"] = arg


Model = dict[str, dict[str, Any]]


def _replay(actions: list[Any], look: Callable[[CapabilityIndex, Model], None],
            with_record: bool = False) -> tuple[CapabilityIndex, Model]:
    """A fresh index and model through the generated actions, ``look`` after each marked."""
    idx = CapabilityIndex()
    model: Model = {}
    for (kind, i, arg), at, wants in actions:
        _step(idx, model, kind, f"a{i}", arg, at, with_record)
        if wants:
            look(idx, model)
    return idx, model


@settings(max_examples=200, deadline=None)
@given(actions=st.lists(st.tuples(action, st.integers(0, 3), st.booleans()), max_size=25),
       q=query, status=st.one_of(st.none(), st.sampled_from(STATUSES)))
def test_out_of_order_registrations_and_queries_between_writes(
        actions: list[Any], q: str | list[str], status: AgentStatus | None) -> None:
    """Records registered earlier than the last one (another node's), equal registration
    times (ties by id), and queries between the writes (deferred strings taken, order put
    back) give the brute-force answer every time."""
    def look(idx: CapabilityIndex, model: Model) -> None:
        assert idx.find(Query.of(q, status=status)) == brute(model, q, status, None, [], None, 0)

    idx, model = _replay(actions, look)
    assert idx.find(Query.of(q, status=status)) == brute(model, q, status, None, [], None, 0)
    for s in STATUSES:
        assert idx.ids_by_status(s) == {a for a, m in model.items() if m["status"] is s}


def test_released_strings_give_their_slots_back() -> None:
    idx = CapabilityIndex()
    for i in range(6000):
        idx.upsert(f"a{i}", [f"unique skill {i}", "shared"], status=AgentStatus.ACTIVE,
                   runtime_id="r", registered_at=float(i))
        if i % 1000 == 999:
            idx.find(Query.of("shared"))  # takes the pending strings
    for i in range(0, 6000, 3):
        if i % 3 == 0:
            idx.remove(f"a{i}")
    for i in range(1, 6000, 3):
        idx.remove(f"a{i}")
    assert idx.find(Query.of("skill 5999")) == ["a5999"]
    assert idx.find(Query.of("shared")) == [f"a{i}" for i in range(2, 6000, 3)]
    assert idx.distinct_capabilities() == 2001
    assert len(idx._strings.texts) == 2001  # renumbered: no dead slots kept


def _put(idx: CapabilityIndex, aid: str, at: float, status: AgentStatus = AgentStatus.ACTIVE,
         caps: tuple[str, ...] = ("benchmark",)) -> None:
    """A put with its record, as the directory makes it (the ranker takes it too)."""
    rec = AgentRecord(aid, f"agent {aid}", "bench", caps, registered_at=at)
    idx.put(aid, rec.capabilities, status, "bench", at, (), "n1", rec)


def test_a_node_nobody_queries_keeps_no_entry_per_write() -> None:
    """The soak's churn (registrations, status writes, deregistrations of the oldest at 200
    live agents) on an index nobody queries: nothing waits per agent before the first query
    (the first query scans), then at most one entry per live agent (and per agent the ranker
    must forget), however many writes, with no list to cut back; the positions' list within
    twice the agents plus a constant. The queries after it answer as a fresh index holding the
    same agents does. A search in the middle leaves the ranker holding agents that go later:
    they are forgotten at the next search all the same."""
    idx = CapabilityIndex()
    live: list[str] = []
    degraded: set[str] = set()
    for k in range(20_000):
        aid = f"a{k}"
        _put(idx, aid, float(k))
        live.append(aid)
        if k % 3 == 0 and k:
            _put(idx, live[-2], float(k - 1), AgentStatus.DEGRADED)  # a status write
            degraded.add(live[-2])
        if len(live) > 200:
            assert idx.remove(live.pop(0))
        if k == 5_000:
            assert idx.find(Query.of("bench"))  # the strings of 200 agents taken by a scan
        if k == 10_000:
            assert idx.search("agent a9999")[0][0] == "a9999"  # the ranker takes 200
        # (compacted at twice the agents of its last compaction, one more then: a put first)
        assert len(idx._order) <= 2 * (len(idx) + 1) + index_module._SLACK
        if k < 5_000:
            assert idx._pending is None
        else:
            assert idx._pending is not None and len(idx._pending) <= len(idx)
        if k < 10_000:
            assert idx._rank_pending is None
        else:
            assert idx._rank_pending is not None
            assert len(idx._rank_pending) <= len(idx) + len(idx.ranker)
    fresh = CapabilityIndex()
    for aid in live:
        _put(fresh, aid, float(aid[1:]),
             AgentStatus.DEGRADED if aid in degraded else AgentStatus.ACTIVE)
    assert idx.find(Query.of("bench", status=None)) == fresh.find(Query.of("bench", status=None))
    assert idx.search("agent a19999", status=None) == fresh.search("agent a19999", status=None)
    assert len(idx.ranker) == len(live) == 200
    assert idx.ids_by_status(AgentStatus.DEGRADED) == fresh.ids_by_status(AgentStatus.DEGRADED)


@settings(max_examples=200, deadline=None)
@given(actions=st.lists(st.tuples(action, st.integers(0, 3), st.booleans()), max_size=40),
       q=query, words=st.sampled_from(["agent a1", "a2 agent", "code", "a3"]))
def test_queries_and_searches_between_writes_change_no_answer(
        actions: list[Any], q: str | list[str], words: str) -> None:
    """Queries and searches between writes (the first of each scans, the later ones take the
    changes since; removed agents leave the pending sets, or stay in the ranker's to be
    forgotten): capability queries give the brute-force answer, and text searches the answer
    of an index that was handed the surviving agents only."""
    def look(idx: CapabilityIndex, model: Model) -> None:
        assert idx.find(Query.of(q, status=None)) == brute(model, q, None, None, [], None, 0)
        idx.search(words, status=None)

    idx, model = _replay(actions, look, with_record=True)
    assert idx.find(Query.of(q, status=None)) == brute(model, q, None, None, [], None, 0)
    fresh = CapabilityIndex()
    for aid, m in model.items():
        _upsert(fresh, aid, m, with_record=True)
    assert idx.search(words, status=None) == fresh.search(words, status=None)
    # The ranker holds the survivors and has forgotten every agent that went.
    assert len(idx.ranker) == len(model) and all(aid in idx.ranker for aid in model)
