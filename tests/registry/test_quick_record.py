"""kaizen's usual card read in one step (``core.directory.quick``) builds the record the general
path builds, field for field, or leaves the card to it (which raises what it always raised)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.directory.quick import quick_record
from gossipreg.core.types import AgentRecord
from gossipreg.registry_types import agent_record


class Cap(str):
    """A string subclass (a string enum, say): the general path's to read."""


texts = st.one_of(st.text(max_size=6), st.sampled_from(["", "x" * 256, "a\nb", "{[["]))
values = st.one_of(texts, st.none(), st.integers(), st.builds(Cap, st.text(max_size=4)),
                   st.lists(st.text(max_size=4), max_size=3))
caps = st.one_of(
    st.lists(st.one_of(texts, st.sampled_from(["c" * 1024, "c" * 1025]),
                       st.builds(Cap, st.text(max_size=3)), st.integers()), max_size=6),
    st.lists(st.just("same"), min_size=250, max_size=260), texts, st.none())
cards = st.one_of(
    st.fixed_dictionaries({"capabilities": caps},
                          optional={"name": values, "description": values, "version": values,
                                    "capability": values, "url": values,
                                    "agent_name": values}),
    st.dictionaries(st.sampled_from(["capabilities", "name", "skills"]), values, max_size=2))
ids = st.one_of(st.sampled_from(["a-1", "agent 2", "x" * 255, "x" * 256, "", "a\tb"]),
                st.integers())
agents = st.builds(
    lambda name, aname, desc, card: SimpleNamespace(
        **{k: v for k, v in (("name", name), ("agent_name", aname), ("description", desc))
           if v is not ...}, _a2a_card=card),
    st.one_of(st.just(...), values), st.one_of(st.just(...), values),
    st.one_of(st.just(...), values, st.just("d" * 8193)), cards)
limits = st.tuples(st.one_of(st.just(10), st.integers(-1, 2**31 + 1), st.just(1.5)),
                   st.one_of(st.just(512), st.integers(-1, 3)),
                   st.one_of(st.just(1.0), st.floats(allow_nan=True), st.just(2)))


def build(agent: Any, aid: Any, rt: Any, lim: tuple[Any, Any, Any], tags: Any,
          at: float) -> AgentRecord | tuple[str, str]:
    try:
        return agent_record(agent, aid, rt, capabilities=None, tags=tags, card=None,
                            max_concurrency=lim[0], memory_limit_mb=lim[1],
                            budget_limit_usd=lim[2], registered_at=at)
    except Exception as e:
        return type(e).__name__, str(e)


@settings(max_examples=600, deadline=None)
@given(agents, ids, st.one_of(ids, st.just("rt")), limits)
def test_the_quick_record_is_the_general_one(agent: Any, aid: Any, rt: Any,
                                             lim: tuple[Any, Any, Any]) -> None:
    at = time.time()
    quick = build(agent, aid, rt, lim, (), at)  # tags == (): the quick path is tried
    general = build(agent, aid, rt, lim, [], at)  # a list: the general path alone
    assert quick == general
    if isinstance(quick, AgentRecord):
        assert tuple(map(type, quick)) == tuple(map(type, general))  # type: ignore[arg-type]


def test_the_usual_kaizen_card_takes_the_quick_path() -> None:
    card = {"capabilities": ["code review", "python", "code review"], "name": "Coder"}
    r = quick_record(card, "a-1", None, None, "rt", 10, 512, 1.0, 1.0)
    assert r is not None and r.capabilities == ("code review", "python") and r.name == "Coder"
    assert r.card_json == '{"capabilities":["code review","python","code review"],"name":"Coder"}'
    for other in ({"capabilities": "one"}, {"capabilities": ["x"], "capability": "y"},
                  {"capabilities": ["x"], "url": "http://h"}, {"capabilities": [Cap("x")]}):
        assert quick_record(other, "a-1", None, None, "rt", 10, 512, 1.0, 1.0) is None


plain = st.text(max_size=8)
usual_cards = st.fixed_dictionaries(
    {"capabilities": st.lists(st.one_of(plain, st.sampled_from(["a", "b", '"q"\\'])),
                              max_size=8)},
    optional={"name": plain, "description": plain, "version": plain})
usual_agents = st.builds(
    lambda name, desc, card: SimpleNamespace(name=name, description=desc, _a2a_card=card),
    st.one_of(plain, st.none()), st.one_of(plain, st.none()), usual_cards)


@settings(max_examples=300, deadline=None)
@given(usual_agents, st.text(min_size=1, max_size=12).filter(str.isprintable))
def test_usual_cards_are_read_quickly_and_alike(agent: Any, aid: str) -> None:
    at = time.time()
    assert quick_record(agent._a2a_card, aid, agent.name, agent.description, "rt", 10, 512, 1.0,
                        at) is not None
    assert build(agent, aid, "rt", (10, 512, 1.0), (), at) == build(
        agent, aid, "rt", (10, 512, 1.0), [], at)
