"""The text a ranker sees: a record's fields, the terms of a text, and the texts embedded.

Rules:
- Fields (:data:`FIELDS`, with their BM25F weight, length normalisation ``b`` and reference
  length): ``name``; ``keywords`` (tags, skill ids split at ``-``/``_``, skill names, and the
  capability strings of an agent without skills); ``text`` (the description, skill
  descriptions and examples). The reference length stands where BM25 has the corpus's average
  field length: a fixed number of terms (a typical agent card's), so that a record's impacts
  depend on the record alone and a converged node scores alike whatever order it learnt the
  records in.
- Evidence for vectors (:func:`evidence_texts`): the whole card as one text, then one text per
  skill (its name, description, tags and examples, which ARD shows as
  ``representativeQueries``), at most :data:`MAX_EVIDENCE` in all: every node and every owner
  embeds the same texts for a record.
- Terms: lower-cased runs of letters and digits; a few stop words dropped; a plural ``-s`` /
  ``-ies`` folded so that "currencies" finds "currency"; interned (one copy per term).
- Pure functions of their input: the same text gives the same terms on every node.
"""

from __future__ import annotations

import re
import sys

from gossipreg.core.types import AgentRecord, Skill

__all__ = ["FIELDS", "MAX_EVIDENCE", "STOP", "WORD", "document_fields", "evidence_texts",
           "fold", "terms"]

FIELDS: tuple[tuple[str, float, float, float], ...] = (
    # (field, weight, length normalisation b, reference length in terms)
    ("name", 3.0, 0.5, 2.0),
    ("keywords", 2.0, 0.5, 16.0),
    ("text", 1.0, 0.75, 48.0),
)
#: Texts embedded per record (the vectors a record may carry: vectors.MAX_VECTORS).
MAX_EVIDENCE = 8
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


def _skill_text(s: Skill) -> str:
    return " ".join((f"{s.name}.", s.description, " ".join(s.tags), *s.examples)).strip()


def evidence_texts(r: AgentRecord) -> tuple[str, ...]:
    """The texts whose vectors stand for a record, in order (see the module rules): the card as
    a whole (name, description, then every skill, or the capability strings and tags of an
    agent without skills), then each skill on its own, up to :data:`MAX_EVIDENCE` texts."""
    if r.skills:
        whole = [f"{r.name}.", r.description, *(_skill_text(s) for s in r.skills)]
    else:
        whole = [f"{r.name}.", r.description, *r.capabilities, " ".join(r.tags)]
    out = [" ".join(t for t in whole if t).strip() or r.agent_id]
    out.extend(_skill_text(s) for s in r.skills[:MAX_EVIDENCE - 1])
    return tuple(out)
