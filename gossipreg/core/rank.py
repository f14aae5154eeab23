"""Lexical ranking of agents for free text: BM25F over a record's name, keywords and text.

Rules:
- Fields and weights (:data:`FIELDS`): ``name`` (the agent's name, 3.0), ``keywords`` (tags,
  skill ids and names, capability strings of agents without skills, 2.0), ``text`` (the
  description, skill descriptions and examples, 1.0). A term's pseudo-frequency in a document
  is the sum over fields of weight × tf / (1 − b + b × len / avg len) (BM25F, per-field length
  normalisation); its score is idf × tf~ / (k1 + tf~), summed over the query's terms.
- Scores are normalised by the query's best possible score (the sum of its terms' idf), so a
  score is in [0, 1) whatever the query or corpus: ready to be fused with another ranker's
  normalised score (see :class:`Ranker`), and 100 × score is ARD's integer relevance.
- Incremental: every record change updates the postings (term -> parallel arrays of document
  slot and packed per-field term counts) and the field-length totals; a query reads only the
  postings of its own terms, never the whole corpus. A replaced or removed document leaves its
  slot dead until dead postings outnumber live ones, then the arrays are compacted.
- Terms: lower-cased runs of letters and digits; a few stop words dropped; a plural ``-s`` /
  ``-ies`` folded so that "currencies" finds "currency".
"""

from __future__ import annotations

import heapq
import math
import re
import sys
from array import array
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from gossipreg.core.types import AgentRecord, AgentView

__all__ = ["FIELDS", "LexicalRanker", "Ranker", "SearchHit", "document_fields", "terms"]

FIELDS: tuple[tuple[str, float, float], ...] = (
    # (field, weight, length normalisation b)
    ("name", 3.0, 0.5),
    ("keywords", 2.0, 0.5),
    ("text", 1.0, 0.75),
)
K1 = 1.2
_BITS = 10  # per-field count in a packed posting (saturates at 1023)
_MASK = (1 << _BITS) - 1
_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "me", "my", "of", "on", "or", "that", "the", "this", "to", "with", "you", "your", "i", "we",
    "our", "can"))


def _fold(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def terms(text: str) -> list[str]:
    """The terms of ``text`` in order (repeats kept), interned."""
    return [sys.intern(_fold(w)) for w in _WORD.findall(text.lower()) if w not in _STOP]


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


class Ranker(Protocol):
    """What a ranker offers the search layer: updates per record change, and normalised scores
    (0..1) for a query, so several rankers (lexical, vectors) can be fused by id."""

    def put(self, agent_id: str, record: AgentRecord) -> None: ...
    def remove(self, agent_id: str) -> None: ...
    def scores(self, text: str) -> dict[str, float]: ...


class SearchHit(NamedTuple):
    """One ranked search result: the agent as this node sees it, and its score in [0, 1)."""

    agent: AgentView
    score: float


class _Posting(NamedTuple):
    slots: array[int]
    counts: array[int]


class LexicalRanker:
    """BM25F postings over the visible agents, updated per change."""

    def __init__(self) -> None:
        self._slot_of: dict[str, int] = {}
        self._recs: list[AgentRecord | None] = []  # per slot; None once replaced or removed
        self._lens: array[int] = array("i")  # len(FIELDS) per slot: field lengths
        self._postings: dict[str, _Posting] = {}
        self._df: dict[str, int] = {}  # live documents per term
        self._totals = [0] * len(FIELDS)
        self._live = 0
        self._live_postings = 0
        self._dead_postings = 0

    def __len__(self) -> int:
        return self._live

    @staticmethod
    def _counts(record: AgentRecord) -> tuple[list[int], dict[str, int]]:
        lens: list[int] = []
        counts: dict[str, int] = {}
        for f, text in enumerate(document_fields(record)):
            toks = terms(text)
            lens.append(len(toks))
            shift = f * _BITS
            for t in toks:
                c = counts.get(t, 0)
                if (c >> shift) & _MASK < _MASK:
                    counts[t] = c + (1 << shift)
        return lens, counts

    def put(self, agent_id: str, record: AgentRecord) -> None:
        """Index (or re-index) ``record`` under ``agent_id``."""
        self.remove(agent_id)
        lens, counts = self._counts(record)
        slot = len(self._recs)
        self._recs.append(record)
        self._slot_of[agent_id] = slot
        self._lens.extend(lens)
        for f, n in enumerate(lens):
            self._totals[f] += n
        postings, df = self._postings, self._df
        for t, c in counts.items():
            p = postings.get(t)
            if p is None:
                p = postings[t] = _Posting(array("i"), array("i"))
            p.slots.append(slot)
            p.counts.append(c)
            df[t] = df.get(t, 0) + 1
        self._live += 1
        self._live_postings += len(counts)

    def remove(self, agent_id: str) -> None:
        """Forget an agent (a no-op for an unknown one)."""
        slot = self._slot_of.pop(agent_id, None)
        if slot is None:
            return
        rec = self._recs[slot]
        assert rec is not None
        self._recs[slot] = None
        lens, counts = self._counts(rec)  # the same terms as when it was put
        for f, n in enumerate(lens):
            self._totals[f] -= n
        df = self._df
        for t in counts:
            left = df[t] - 1
            if left:
                df[t] = left
            else:
                del df[t]
        self._live -= 1
        self._live_postings -= len(counts)
        self._dead_postings += len(counts)
        if self._dead_postings > max(4096, self._live_postings):
            self._compact()

    def _compact(self) -> None:
        """Drop dead slots: renumber live documents, rebuild the arrays (no re-tokenising)."""
        remap: dict[int, int] = {}
        recs: list[AgentRecord | None] = []
        lens: array[int] = array("i")
        nf = len(FIELDS)
        for old, rec in enumerate(self._recs):
            if rec is not None:
                remap[old] = len(recs)
                recs.append(rec)
                lens.extend(self._lens[old * nf:(old + 1) * nf])
        for t in list(self._postings):
            p = self._postings[t]
            slots: array[int] = array("i")
            counts: array[int] = array("i")
            for s, c in zip(p.slots, p.counts, strict=True):
                n = remap.get(s)
                if n is not None:
                    slots.append(n)
                    counts.append(c)
            if slots:
                self._postings[t] = _Posting(slots, counts)
            else:
                del self._postings[t]
        self._recs, self._lens = recs, lens
        self._slot_of = {aid: remap[s] for aid, s in self._slot_of.items()}
        self._dead_postings = 0

    def scores(self, text: str) -> dict[str, float]:
        """Agent id -> normalised score in (0, 1) for every agent matching a term of ``text``.
        The norm is the sum of the idf of the query terms some agent has (terms nobody has are
        ignored, so filler words in a sentence do not drag every score down)."""
        n = self._live
        if not n:
            return {}
        nf = len(FIELDS)
        assert nf == 3  # the loop below is unrolled for three fields
        (_, w0, b0), (_, w1, b1), (_, w2, b2) = FIELDS
        t0, t1, t2 = (max(t / n, 1e-9) for t in self._totals)
        a0, a1, a2 = 1.0 - b0, 1.0 - b1, 1.0 - b2
        c0, c1, c2 = b0 / t0, b1 / t1, b2 / t2
        lens, recs = self._lens, self._recs
        acc: dict[int, float] = {}
        norm = 0.0
        for t in dict.fromkeys(terms(text)):
            df = self._df.get(t)
            if not df:
                continue
            p = self._postings[t]
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm += idf
            get = acc.get
            for s, c in zip(p.slots, p.counts, strict=True):
                if recs[s] is None:
                    continue
                base = s * 3
                tf = 0.0
                k = c & _MASK
                if k:
                    tf += w0 * k / (a0 + c0 * lens[base])
                k = (c >> _BITS) & _MASK
                if k:
                    tf += w1 * k / (a1 + c1 * lens[base + 1])
                k = c >> (2 * _BITS)
                if k:
                    tf += w2 * k / (a2 + c2 * lens[base + 2])
                acc[s] = get(s, 0.0) + idf * tf / (K1 + tf)
        if norm <= 0.0:
            return {}
        out: dict[str, float] = {}
        for s, v in acc.items():
            r = recs[s]
            assert r is not None
            out[r.agent_id] = v / norm
        return out

    def top(self, text: str, k: int,
            allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best ``(agent id, score)``, best first, ties by id."""
        sc = self.scores(text)
        if allowed is not None:
            keep = set(allowed)
            sc = {a: v for a, v in sc.items() if a in keep}
        return heapq.nsmallest(k, sc.items(), key=lambda kv: (-kv[1], kv[0]))
