"""The capability index returns exactly what a brute-force scan with kaizen's semantics returns."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentStatus

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
        aid = f"a{i}"
        if kind == "upsert":
            a = dict(arg, order=(float(n), aid))
            idx.upsert(aid, a["caps"], status=a["status"], runtime_id=a["runtime"],
                       registered_at=a["order"][0], tags=a["tags"])
            model[aid] = a
        elif kind == "remove":
            assert idx.remove(aid) == (aid in model)
            model.pop(aid, None)
        elif aid in model:
            idx.set_status(aid, arg)
            model[aid]["status"] = arg
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


@settings(max_examples=200, deadline=None)
@given(actions=st.lists(st.tuples(action, st.integers(0, 3), st.booleans()), max_size=25),
       q=query, status=st.one_of(st.none(), st.sampled_from(STATUSES)))
def test_out_of_order_registrations_and_queries_between_writes(
        actions: list[Any], q: str | list[str], status: AgentStatus | None) -> None:
    """Records registered earlier than the last one (another node's), equal registration
    times (ties by id), and queries between the writes (deferred strings taken, order put
    back) give the brute-force answer every time."""
    idx = CapabilityIndex()
    model: dict[str, dict[str, Any]] = {}
    for (kind, i, arg), at, look in actions:
        aid = f"a{i}"
        if kind == "upsert":
            a = dict(arg, order=(float(at), aid))
            idx.upsert(aid, a["caps"], status=a["status"], runtime_id=a["runtime"],
                       registered_at=a["order"][0], tags=a["tags"])
            model[aid] = a
        elif kind == "remove":
            assert idx.remove(aid) == (aid in model)
            model.pop(aid, None)
        elif aid in model:
            idx.set_status(aid, arg)
            model[aid]["status"] = arg
        if look:
            assert idx.find(Query.of(q, status=status)) == brute(model, q, status, None, [],
                                                                 None, 0)
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
