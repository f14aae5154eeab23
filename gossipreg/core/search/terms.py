"""The text a ranker sees: a record's fields, and the terms of a text.

Rules:
- Fields (:data:`FIELDS`, with their BM25F weight and length normalisation ``b``): ``name``;
  ``keywords`` (tags, skill ids split at ``-``/``_``, skill names, and the capability strings
  of an agent without skills); ``text`` (the description, skill descriptions and examples).
- Terms: lower-cased runs of letters and digits; a few stop words dropped; a plural ``-s`` /
  ``-ies`` folded so that "currencies" finds "currency"; interned (one copy per term).
- Pure functions of their input: the same text gives the same terms on every node.
"""

from __future__ import annotations

import re
import sys

from gossipreg.core.types import AgentRecord

__all__ = ["FIELDS", "STOP", "WORD", "document_fields", "fold", "terms"]

FIELDS: tuple[tuple[str, float, float], ...] = (
    # (field, weight, length normalisation b)
    ("name", 3.0, 0.5),
    ("keywords", 2.0, 0.5),
    ("text", 1.0, 0.75),
)
WORD = re.compile(r"[^\W_]+")
STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "me", "my", "of", "on", "or", "that", "the", "this", "to", "with", "you", "your", "i", "we",
    "our", "can"))


def fold(w: str) -> str:
    """A word with a plural ending folded (``currencies`` -> ``currency``)."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def terms(text: str) -> list[str]:
    """The terms of ``text`` in order (repeats kept), interned."""
    return [sys.intern(fold(w)) for w in WORD.findall(text.lower()) if w not in STOP]


def document_fields(r: AgentRecord) -> tuple[str, str, str]:
    """The text of each field of :data:`FIELDS` for a record."""
    kw = [*r.tags]
    for s in r.skills:
        kw.extend((s.id.replace("-", " ").replace("_", " "), s.name))
    if not r.skills:
        kw.extend(r.capabilities)
    text = [r.description]
    for s in r.skills:
        text.append(s.description)
        text.extend(s.examples)
    return r.name, " ".join(kw), " ".join(text)
