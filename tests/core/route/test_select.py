"""Selection, pure: the query's checks, the tiers (healthy owner, then SUSPECT, then cooldown),
the four strategies and a caller's function, over pools built by hand and by a node's reader."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import InvalidArgumentError, NoMatchError
from gossipreg.core.route.select import (
    Candidate,
    Match,
    SelectQuery,
    Strategy,
    choose,
    parse_strategy,
    pool_limit,
    usable_endpoint,
)
from gossipreg.core.types import AgentLoad, AgentStatus, AgentView, MemberState


def card(url: str, binding: str = "JSONRPC") -> dict[str, object]:
    return {"name": "x", "description": "d", "version": "1", "capabilities": {},
            "supportedInterfaces": [{"url": url, "protocolBinding": binding,
                                     "protocolVersion": "1.0"}],
            "skills": [{"id": "s", "name": "s", "description": "s", "tags": []}]}


def match(aid: str, score: float = 0.5, owner: MemberState = MemberState.ALIVE,
          load: AgentLoad | None = None, cap: int = 10) -> Match:
    rec = make_record(aid, aid, "rt", ["x"], card=card(f"http://127.0.0.1:9/{aid}"),
                      max_concurrency=cap)
    return Match(AgentView(rec, f"node-{aid}", AgentStatus.ACTIVE, 0.0, 0), score, owner, load)


Q = SelectQuery.of("x", k=10)
RNG = random.Random(1)


def ids(cands: list[Candidate]) -> list[str]:
    return [c.agent_id for c in cands]


def test_query_checks_say_what_is_wrong() -> None:
    cases = {
        "give exactly one of text, capability or agent_ids": {},
        "give exactly one of text, capability or agent_ids (got text, capability)":
            {"text": "a", "capability": "b"},
        "text must be a non-empty string": {"text": "  "},
        "k must be an integer in 1..100": {"text": "a", "k": 0},
        "agent_ids must be a list of 1..1000 agent ids": {"agent_ids": "a"},
        "give statuses with status, not as a filter": {"text": "a",
                                                       "filters": {"status": "active"}},
        "unknown status 'zzz': use one of ['active', 'degraded', 'unhealthy', 'offline'] or any":
            {"text": "a", "status": "zzz"},
        "text is longer than 4096 characters": {"text": "a" * 4097},
    }
    for message, kw in cases.items():
        with pytest.raises(InvalidArgumentError) as e:
            SelectQuery.of(**kw)  # type: ignore[arg-type]
        assert str(e.value) == message
    with pytest.raises(InvalidArgumentError, match="unknown strategy 'fastest': use one of "
                       "best, round_robin, random, least_loaded"):
        parse_strategy("fastest")
    assert parse_strategy("ROUND_ROBIN") is Strategy.ROUND_ROBIN
    assert SelectQuery.of(agent_ids=["a", "a", "b"]).agent_ids == ("a", "b")
    assert SelectQuery.of("a", status="any").statuses == frozenset(AgentStatus)


def test_pool_limits() -> None:
    assert pool_limit(SelectQuery.of("x", k=3), Strategy.BEST) == 64
    assert pool_limit(SelectQuery.of("x", k=20), Strategy.BEST) == 160
    assert pool_limit(SelectQuery.of("x"), Strategy.ROUND_ROBIN) == 256
    assert pool_limit(SelectQuery.of(capability="x"), Strategy.ROUND_ROBIN) is None
    assert pool_limit(SelectQuery.of(agent_ids=["a"]), Strategy.BEST) is None


def test_best_keeps_relevance_and_k() -> None:
    pool = [match("b", 0.9), match("a", 0.5), match("c", 0.1)]
    got = choose(pool, SelectQuery.of("x", k=2), Strategy.BEST, RNG)
    assert ids(got) == ["b", "a"] and got[0].why.startswith("best: relevance 0.900")
    assert got[0].endpoint is not None and got[0].endpoint.url == "http://127.0.0.1:9/b"


def test_round_robin_turns_evenly_by_cursor() -> None:
    pool = [match("c"), match("a"), match("b")]
    firsts = Counter(choose(pool, Q, Strategy.ROUND_ROBIN, RNG, cursor=i)[0].agent_id
                     for i in range(30))
    assert firsts == {"a": 10, "b": 10, "c": 10}
    assert ids(choose(pool, Q, Strategy.ROUND_ROBIN, RNG, cursor=1)) == ["b", "c", "a"]


def test_random_depends_only_on_the_generator() -> None:
    pool = [match(x) for x in "abcdef"]
    one = ids(choose(pool, Q, Strategy.RANDOM, random.Random(7)))
    assert one == ids(choose(pool, Q, Strategy.RANDOM, random.Random(7)))
    assert sorted(one) == list("abcdef")


def test_least_loaded_counts_published_load_and_own_sends_and_puts_full_last() -> None:
    pool = [match("full", 0.9, load=AgentLoad(10, 10)), match("busy", 0.8, load=AgentLoad(5, 10)),
            match("idle", 0.1), match("mine", 0.7, load=AgentLoad(1, 10))]
    got = choose(pool, Q, Strategy.LEAST_LOADED, RNG, inflight={"mine": 3})
    assert ids(got) == ["idle", "mine", "busy", "full"]
    assert got[0].why == "least_loaded: 0/10 busy (no load published)"
    assert got[-1].why == "least_loaded: 10/10 busy (published), full"


def test_suspect_owners_and_cooldowns_only_when_nothing_else_matches() -> None:
    pool = [match("s", 0.9, owner=MemberState.SUSPECT), match("h", 0.1), match("c", 0.8)]
    assert ids(choose(pool, Q, Strategy.BEST, RNG, cooling={"c"})) == ["h"]
    got = choose(pool[:1], Q, Strategy.BEST, RNG)
    assert ids(got) == ["s"] and "owner is SUSPECT: no agent with a healthy owner" in got[0].why
    got = choose([pool[2]], Q, Strategy.BEST, RNG, cooling={"c"})
    assert ids(got) == ["c"] and "cooldown: every matching agent is" in got[0].why
    with pytest.raises(NoMatchError, match="no reachable agent matches text 'x' in status"):
        choose([], SelectQuery.of("x", sendable=True), Strategy.BEST, RNG)


def test_a_callers_function_orders_the_offered_candidates() -> None:
    pool = [match("a", 0.9), match("b", 0.5), match("c", 0.1)]

    def cheapest_last(cands: list[Candidate]) -> list[Candidate]:
        return list(reversed(cands))

    got = choose(pool, Q, cheapest_last, RNG)
    assert ids(got) == ["c", "b", "a"] and got[0].why == "chosen by cheapest_last"
    assert ids(choose(pool, Q, lambda cs: cs[1], RNG)) == ["b"]
    with pytest.raises(NoMatchError):
        choose(pool, Q, lambda cs: None, RNG)
    with pytest.raises(InvalidArgumentError, match="must return candidates it was offered"):
        choose(pool, Q, lambda cs: ["a"], RNG)  # type: ignore[list-item,return-value]


def test_usable_endpoint_is_the_first_the_client_speaks_in_card_order() -> None:
    d = card("grpc://h:1", "GRPC")
    d["supportedInterfaces"] += [  # type: ignore[operator]
        {"url": "http://h/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": "http://h/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]
    rec = make_record("x", "x", "rt", ["x"], card=d)
    ep = usable_endpoint(rec)
    assert ep is not None and ep.url == "http://h/rest"
    card03 = {"name": "old", "url": "http://h/v03", "protocolVersion": "0.3.0",
              "capabilities": {}, "skills": []}
    ep = usable_endpoint(make_record("y", "y", "rt", ["x"], card=card03))
    assert ep is not None and (ep.url, ep.binding, ep.version) == ("http://h/v03", "JSONRPC",
                                                                   "0.3.0")
    assert usable_endpoint(make_record("z", "z", "rt", ["x"])) is None
