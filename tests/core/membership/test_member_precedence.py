"""The member table's precedence rules (core/membership/table.py), as one table.

Rows: the state a member is in at version (generation 1, incarnation 5). Columns: news about it
at a lower version, the same version, a higher incarnation, a higher generation. Cells: the
state the member is in afterwards, or "-" when the news changes nothing.
"""

from __future__ import annotations

import pytest

from gossipreg.core.membership.table import MemberTable
from gossipreg.core.types import MemberState

A, S, D, L = MemberState.ALIVE, MemberState.SUSPECT, MemberState.DEAD, MemberState.LEFT
CODE = {"A": A, "S": S, "D": D, "L": L}
VERSIONS = [(1, 4), (1, 5), (1, 6), (2, 0)]  # lower, equal, higher incarnation, generation

TABLE = {
    #         alive   suspect  dead    left
    A: {"alive": "--AA", "suspect": "-SSS", "dead": "-DDD", "left": "-LLL"},
    S: {"alive": "--AA", "suspect": "----", "dead": "-DDD", "left": "-LLL"},
    D: {"alive": "--AA", "suspect": "----", "dead": "----", "left": "-LLL"},
    L: {"alive": "--AA", "suspect": "----", "dead": "----", "left": "----"},
}


def _table_with(state: MemberState) -> MemberTable:
    t = MemberTable("me", "me:1", 1, 0.0)
    t.alive("x", "x:1", 1, 5, 0.0)
    if state is S:
        t.suspect("x", 1, 5, 0.0)
    elif state is D:
        t.dead("x", 1, 5, 0.0)
    elif state is L:
        t.dead("x", 1, 5, 0.0, left=True)
    m = t.get("x")
    assert m is not None and m.state is state and m.version == (1, 5)
    return t


def _news(t: MemberTable, kind: str, node: str, version: tuple[int, int]) -> object:
    g, i = version
    if kind == "alive":
        return t.alive(node, f"{node}:2", g, i, 1.0)
    if kind == "suspect":
        return t.suspect(node, g, i, 1.0)
    return t.dead(node, g, i, 1.0, left=kind == "left")


CASES = [(state, kind, version, cell)
         for state, row in TABLE.items() for kind, cells in row.items()
         for version, cell in zip(VERSIONS, cells, strict=True)]


@pytest.mark.parametrize(("state", "kind", "version", "cell"), CASES,
                         ids=[f"{s.name}-{k}-{v}" for s, k, v, _ in CASES])
def test_precedence(state: MemberState, kind: str, version: tuple[int, int],
                    cell: str) -> None:
    t = _table_with(state)
    # The receive path drops an Alive that ``alive_held`` calls known before parsing it:
    # exactly those that change nothing here.
    held = t.alive_held("x", *version)
    change = _news(t, kind, "x", version)
    if kind == "alive":
        assert held is (cell == "-")
    m = t.get("x")
    assert m is not None
    if cell == "-":
        # Stale or no worse: nothing changes (an equal-version SUSPECT confirms a suspicion
        # in the failure detector, not here).
        assert change is None
        assert (m.state, m.version) == (state, (1, 5))
    else:
        # Taken (an ALIVE at a higher incarnation about an ALIVE member too: a refutation,
        # reported so that it is re-gossiped).
        assert change is not None
        assert m.state is CODE[cell] and m.version == version


@pytest.mark.parametrize("kind", ["alive", "suspect", "dead", "left"])
def test_news_about_an_unknown_member_is_ignored_except_a_join(kind: str) -> None:
    t = MemberTable("me", "me:1", 1, 0.0)
    change = _news(t, kind, "new", (1, 0))
    m = t.get("new")
    if kind == "alive":
        assert change is not None and m is not None and m.state is A
    else:
        assert change is None and m is None


@pytest.mark.parametrize("kind", ["alive", "suspect", "dead", "left"])
def test_news_about_ourselves_never_changes_our_row(kind: str) -> None:
    t = MemberTable("me", "me:1", 1, 0.0)
    assert _news(t, kind, "me", (1, 9)) is None
    assert t.me.state is A and t.me.version == (1, 0)
    assert t.refute(9) == 10  # refuting raises our incarnation above the accusation's


def test_alive_held_is_unsure_of_ourselves_strangers_and_wrong_types() -> None:
    t = _table_with(A)
    assert t.alive_held("x", 1, 5) and t.alive_held("x", 0, 99)
    assert not t.alive_held("me", 0, 0)  # about ourselves: the failure detector decides
    assert not t.alive_held("stranger", 1, 0)  # a join
    assert not t.alive_held("x", "1", 5) and not t.alive_held("x", 1, 5.0)
    assert not t.alive_held(["x"], 1, 5)
