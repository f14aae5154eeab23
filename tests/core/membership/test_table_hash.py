"""The member table's hash (``MemberTable.digest_hash``), kept up to date row by row: after any
sequence of changes it equals the hash of the same rows computed from nothing, and two tables
that hold the same rows, reached in any order, hash the same."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.membership.table import MemberTable

NODES = ["a", "b", "c", "d"]
OPS = st.lists(st.tuples(st.sampled_from(["alive", "suspect", "dead", "left", "remove",
                                          "refute"]),
                         st.sampled_from(NODES), st.integers(1, 3), st.integers(0, 4)),
               max_size=40)


def _apply(t: MemberTable, ops: list[tuple[str, str, int, int]]) -> None:
    for kind, node, gen, inc in ops:
        if kind == "alive":
            t.alive(node, f"{node}:1", gen, inc, 0.0)
        elif kind == "suspect":
            t.suspect(node, gen, inc, 0.0)
        elif kind in ("dead", "left"):
            t.dead(node, gen, inc, 0.0, left=kind == "left")
        elif kind == "remove":
            t.remove(node)
        else:
            t.refute(inc)


def _from_nothing(t: MemberTable) -> bytes:
    total = 0
    for m in t:
        text = f"{m.node_id}\0{m.generation}\0{m.incarnation}\0{int(m.state)}\n".encode()
        total += int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "little")
    return (total % (1 << 128)).to_bytes(16, "little")


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_the_kept_hash_is_the_hash_of_the_rows_held(ops: list[tuple[str, str, int, int]]) -> None:
    t = MemberTable("me", "me:1", 1, 0.0)
    _apply(t, ops)
    assert t.digest_hash() == _from_nothing(t)


@settings(max_examples=200, deadline=None)
@given(st.permutations([("a", 1, 2), ("b", 2, 0), ("c", 1, 7), ("d", 3, 1)]), OPS)
def test_equal_rows_hash_equal_and_a_change_shows(rows: list[tuple[str, int, int]],
                                                   ops: list[tuple[str, str, int, int]]) -> None:
    one, two = MemberTable("me", "me:1", 1, 0.0), MemberTable("me", "me:1", 1, 0.0)
    for node, gen, inc in rows:
        one.alive(node, f"{node}:1", gen, inc, 0.0)
    for node, gen, inc in sorted(rows):
        two.alive(node, f"{node}:1", gen, inc, 0.0)
    assert one.digest_hash() == two.digest_hash()
    before = [(m.node_id, m.version, m.state) for m in one]
    _apply(one, ops)
    after = [(m.node_id, m.version, m.state) for m in one]
    assert (one.digest_hash() == two.digest_hash()) == (sorted(before) == sorted(after))
