"""Ping-req relay choice (core/membership/probes.py): the same relays, drawn with the same random
numbers, as the definition over the whole table: every ALIVE member but us and the target, in
table order, those that acked us since the horizon first."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.membership.probes import choose_relays
from gossipreg.core.membership.table import Member, MemberTable
from gossipreg.core.types import MemberState


def _by_definition(t: MemberTable, target: str, acked: dict[str, float], horizon: float, k: int,
                   rng: random.Random) -> list[Member]:
    peers = [x for x in t if x.state is MemberState.ALIVE and x.node_id not in ("me", target)]
    k = min(k, len(peers))
    good = [x for x in peers if acked.get(x.node_id, -1.0) >= horizon]
    chosen = rng.sample(good, min(k, len(good)))
    if len(chosen) < k:
        rest = [x for x in peers if acked.get(x.node_id, -1.0) < horizon]
        chosen += rng.sample(rest, k - len(chosen))
    return chosen


_STEP = st.tuples(st.sampled_from(["alive", "suspect", "dead", "remove", "ack"]),
                  st.integers(0, 11), st.floats(-5.0, 30.0))


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=60), st.integers(0, 11), st.floats(-20.0, 30.0),
       st.integers(1, 5), st.integers(0, 2**32))
def test_relays_are_those_of_the_definition(steps: list[tuple[str, int, float]], target: int,
                                            horizon: float, k: int, seed: int) -> None:
    # Members come, change state, go and come back (a removed member re-added is last in the
    # table's order); acks come from members and from names the table no longer holds.
    t = MemberTable("me", "me:1", 1, 0.0)
    for i in range(12):  # (acks then come in another order than the table's)
        t.alive(f"m{i}", f"m{i}:1", 1, 0, 0.0)
    acked: dict[str, float] = {}
    inc: dict[str, int] = {}
    for op, i, at in steps:
        n = f"m{i}"
        inc[n] = inc.get(n, 0) + 1
        if op == "alive":
            t.alive(n, f"{n}:1", 1, inc[n], 0.0)
        elif op == "suspect":
            t.suspect(n, 1, inc[n], 0.0)
        elif op == "dead":
            t.dead(n, 1, inc[n], 0.0)
        elif op == "remove":
            t.remove(n)
        else:
            acked[n] = at
    acked["me"] = 1.0
    got = choose_relays(t, f"m{target}", acked, horizon, k, random.Random(seed))
    want = _by_definition(t, f"m{target}", acked, horizon, k, random.Random(seed))
    assert [m.node_id for m in got] == [m.node_id for m in want]


def test_in_order_follows_the_table_after_a_member_comes_back() -> None:
    t = MemberTable("me", "me:1", 1, 0.0)
    for n in ("a", "b", "c"):
        t.alive(n, f"{n}:1", 1, 1, 0.0)
    t.remove("a")
    t.alive("a", "a:1", 2, 0, 0.0)  # back: now after c
    t.suspect("b", 1, 1, 0.0)
    assert [m.node_id for m in t] == ["me", "b", "c", "a"]
    assert [m.node_id for m in t.in_order(["a", "b", "c", "gone"], MemberState.ALIVE)] == [
        "c", "a"]
