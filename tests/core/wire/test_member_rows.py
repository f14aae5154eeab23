"""Member rows read from the wire (core/wire/fields.py): the inline reading of an unsigned row
accepts exactly what the item-by-item checks accept, with the same result; a row they refuse
is refused with the same error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.wire.fields import MAX_INT, rows_from_wire

_INTS = [0, 1, MAX_INT, MAX_INT + 1, -1, True, 1.0, "1", None]
# Per item of [node, addr, generation, incarnation, state]: values at and past each bound.
_TRICKY: list[list[Any]] = [
    ["m2", "x" * 255, "x" * 256, "", "bad\x00id", "é", 5, None, b"n1"],
    ["n1", "0:1", "0.0.0.0:7946", "[::]:1", "::", ":7946", "x" * 255, "x" * 256, "", 7, None],
    _INTS, _INTS,
    [0, 1, 2, 3, 4, -1, True, False, 3.0, None],
]


@st.composite
def _row(draw: st.DrawFn) -> list[Any]:
    row: list[Any] = ["n1", "a:1", 1, 2, 0]
    for pos in draw(st.sets(st.integers(0, 4), max_size=2)):  # at most two items changed
        row[pos] = draw(st.sampled_from(_TRICKY[pos]))
    return row


def _read(rows: list[Any]) -> tuple[str, Any]:
    try:
        return "rows", rows_from_wire(rows)
    except InvalidArgumentError as e:
        return "error", str(e)


@settings(max_examples=500, deadline=None)
@given(st.lists(_row(), max_size=3))
def test_inline_rows_read_as_item_by_item(rows: list[list[Any]]) -> None:
    # A sixth item None (no proof) takes the item-by-item path and means the same row.
    assert _read(rows) == _read([[*r, None] for r in rows])
