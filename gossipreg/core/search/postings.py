"""Postings of the lexical ranker: a term's documents (slots) and their quantised impacts.

Rules: a term held by two or more documents is a :class:`Posting` (slots ascending, as slots
only grow and compaction keeps their order; uint16 impacts); a term of one document is the
plain int ``slot << 16 | impact`` (most terms of a large corpus are: ids, numbers, rare words).
Pure data, no I/O.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

__all__ = ["QUANT", "Posting", "Postings", "add_posting", "posting_arrays"]


class Posting:
    """The documents of a term held by two or more: slots ascending (slots only grow, and
    compaction keeps the order), uint16 impacts ``round(tf~ / (k1 + tf~) * 65535)`` under the
    reference averages, the live document count, and an upper bound of the impacts. A term of
    one document is kept as the plain int ``slot << 16 | impact`` instead (most terms of a
    large corpus are: ids, numbers, rare words)."""

    __slots__ = ("df", "impacts", "max", "slots")

    def __init__(self, slots: array[int], impacts: array[int], df: int) -> None:
        self.slots = slots
        self.impacts = impacts
        self.df = df
        self.max = max(impacts)


#: The scale of an impact: ``round(tf~ / (k1 + tf~) * QUANT)``.
QUANT = 65535.0
Postings = dict[str, "Posting | int"]


def add_posting(postings: Postings, t: str, slot: int, imp: int) -> None:
    """Add a document (slot, impact) to term ``t`` (slots must come in ascending order)."""
    p = postings.get(t)
    if p is None:
        postings[t] = slot << 16 | imp
    elif type(p) is int:
        postings[t] = Posting(array("i", (p >> 16, slot)), array("H", (p & 0xFFFF, imp)), 2)
    else:
        assert isinstance(p, Posting)
        p.slots.append(slot)
        p.impacts.append(imp)
        p.df += 1
        if imp > p.max:
            p.max = imp


def posting_arrays(p: Posting | int) -> tuple[Sequence[int], Sequence[int]]:
    """A posting's slots and impacts."""
    if type(p) is int:
        return (p >> 16,), (p & 0xFFFF,)
    assert isinstance(p, Posting)
    return p.slots, p.impacts
