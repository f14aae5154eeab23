"""Lexical ranking of agents for free text: BM25F over a record's name, keywords and text.

Rules:
- Fields and weights (:data:`FIELDS`): ``name`` (the agent's name, 3.0), ``keywords`` (tags,
  skill ids and names, capability strings of agents without skills, 2.0), ``text`` (the
  description, skill descriptions and examples, 1.0). A term's pseudo-frequency in a document
  is the sum over fields of weight × tf / (1 − b + b × len / avg len) (BM25F, per-field length
  normalisation); its score is idf × tf~ / (k1 + tf~), summed over the query's terms.
- Word order: in the name and keywords fields, each pair of neighbouring terms (stop words
  skipped: "English to Japanese" gives ``english japanese``) is a term too, and so is each
  pair of neighbouring query terms, counted at :data:`PAIR_WEIGHT` of its idf: a query
  "english to japanese" prefers the card that says it that way round over one that says
  "Japanese to English", which the words alone (and an order-blind embedding) cannot tell.
- Scores are normalised by the query's best possible score (the sum of the idf of its terms
  that some agent has; terms nobody has are ignored), so a score is in [0, 1) whatever the
  query or corpus: ready to be fused with another ranker's normalised score (see
  :class:`Ranker`), and 100 × score is ARD's integer relevance.
- Incremental: every record change updates the postings (term -> ascending document slots and
  their uint16 impacts tf~ / (k1 + tf~)); a query reads only the postings of its own terms,
  never the whole corpus. Field lengths are normalised by fixed reference lengths
  (:data:`~gossipreg.core.search.terms.FIELDS`), so an impact depends on its record alone and
  a score on the record, the query and the set of records held (not on the order they came
  in): converged nodes score alike. A replaced or removed document leaves its slot dead until
  dead postings outnumber live ones, then the arrays are compacted.
- Top k (:meth:`LexicalRanker.top`) is exact, with safe pruning: what cannot reach the k-th
  best accepted score is never completed.
- Terms and fields: :mod:`gossipreg.core.search.terms`.
"""

from __future__ import annotations

import bisect
import heapq
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from gossipreg.core.search.postings import QUANT as _Q
from gossipreg.core.search.postings import Posting as _Posting
from gossipreg.core.search.postings import Postings
from gossipreg.core.search.postings import add_posting as _add
from gossipreg.core.search.postings import posting_arrays as _arrays
from gossipreg.core.search.terms import FIELDS, STOP, WORD, document_fields, fold, terms
from gossipreg.core.types import AgentRecord, AgentView

__all__ = ["FIELDS", "LexicalRanker", "Ranker", "SearchHit", "document_fields", "terms"]

K1 = 1.2
#: Word pairs are terms of the first PAIR_FIELDS fields (name, keywords) ...
PAIR_FIELDS = 2
#: ... and count this share of their idf in a query.
PAIR_WEIGHT = 0.5


class Ranker(Protocol):
    """What a ranker offers the search layer: updates per record change, and normalised scores
    (0..1) for a query, so several rankers (lexical, vectors) can be fused by id."""

    def put(self, agent_id: str, record: AgentRecord) -> None: ...
    def remove(self, agent_id: str) -> None: ...
    def scores(self, text: str) -> dict[str, float]: ...


class SearchHit(NamedTuple):
    """One ranked search result: the agent as this node sees it, and its score in [0, 1]
    (:mod:`~gossipreg.core.search.hybrid`)."""

    agent: AgentView
    score: float


class LexicalRanker:
    """BM25F postings over the visible agents, updated per change."""

    def __init__(self) -> None:
        self._slot_of: dict[str, int] = {}
        self._recs: list[AgentRecord | None] = []  # per slot; None once replaced or removed
        self._postings: Postings = {}
        self._words: dict[str, str] = {}  # word -> its term ("" for a stop word)
        self._live = 0
        self._live_postings = 0
        self._dead_postings = 0
        #: A float64 accumulator per slot, kept zero between queries (hybrid, at scale).
        self.scratch: Any = None

    def __len__(self) -> int:
        return self._live

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._slot_of

    def _counts(self, record: AgentRecord) -> tuple[list[int], dict[str, int]]:
        """Field lengths, and per term its counts in the three fields packed as
        ``c0 | c1 << 20 | c2 << 40`` (an int per term, not a list)."""
        lens: list[int] = []
        counts: dict[str, int] = {}
        cache = self._words
        if len(cache) > 16_384:  # bounded (a fixed cost, not per agent; hostile text too)
            cache.clear()
        get = counts.get
        for f, text in enumerate(document_fields(record)):
            one = 1 << (20 * f)
            n = 0
            prev = ""
            pairs = f < PAIR_FIELDS
            for w in WORD.findall(text.lower()):
                t = cache.get(w)
                if t is None:
                    t = cache[w] = "" if w in STOP else sys.intern(fold(w))
                if t:
                    counts[t] = get(t, 0) + one
                    n += 1
                    if pairs:
                        if prev:
                            pair = f"{prev} {t}"
                            counts[pair] = get(pair, 0) + one
                        prev = t
            lens.append(n)
        return lens, counts

    def _impacts(self, lens: list[int], counts: dict[str, int]) -> dict[str, int]:
        n0, n1, n2 = (w / (1.0 - b + b * n / ref) for (_, w, b, ref), n
                      in zip(FIELDS, lens, strict=True))
        out = {}
        m = (1 << 20) - 1
        for t, c in counts.items():
            tf = (c & m) * n0 + ((c >> 20) & m) * n1 + (c >> 40) * n2
            out[t] = max(1, round(tf / (K1 + tf) * _Q))
        return out

    def put(self, agent_id: str, record: AgentRecord) -> None:
        """Index (or re-index) ``record`` under ``agent_id``."""
        self.remove(agent_id)
        lens, counts = self._counts(record)
        self._live += 1
        slot = len(self._recs)
        self._recs.append(record)
        self._slot_of[agent_id] = slot
        postings = self._postings
        get = postings.get
        for t, imp in self._impacts(lens, counts).items():
            p = get(t)
            if type(p) is _Posting:  # the common cases inlined
                p.slots.append(slot)
                p.impacts.append(imp)
                p.df += 1
                if imp > p.max:
                    p.max = imp
            elif p is None:
                postings[t] = slot << 16 | imp
            else:
                _add(postings, t, slot, imp)
        self._live_postings += len(counts)

    def remove(self, agent_id: str) -> None:
        """Forget an agent (a no-op for an unknown one)."""
        slot = self._slot_of.pop(agent_id, None)
        if slot is None:
            return
        rec = self._recs[slot]
        assert rec is not None
        self._recs[slot] = None
        _, counts = self._counts(rec)  # the same terms as when it was put
        postings = self._postings
        dead = 0
        for t in counts:
            p = postings[t]
            if type(p) is int:
                del postings[t]  # a term of this document alone
                continue
            assert isinstance(p, _Posting)
            p.df -= 1
            if p.df:
                dead += 1
            else:
                del postings[t]
        self._live -= 1
        self._live_postings -= len(counts)
        self._dead_postings += dead
        if self._dead_postings > max(4096, self._live_postings):
            self._compact()

    def _compact(self) -> None:
        """Drop dead slots and renumber the live ones in order."""
        recs = [r for r in self._recs if r is not None]
        remap: dict[int, int] = {}
        j = 0
        for old, r in enumerate(self._recs):
            if r is not None:
                remap[old] = j
                j += 1
        postings: Postings = {}
        for t, p in self._postings.items():
            if type(p) is int:
                postings[t] = remap[p >> 16] << 16 | (p & 0xFFFF)
                continue
            assert isinstance(p, _Posting)
            for s, imp in zip(p.slots, p.impacts, strict=True):
                k = remap.get(s)
                if k is not None:
                    _add(postings, t, k, imp)
        self._postings = postings
        self._recs = list(recs)
        self._slot_of = {aid: remap[s] for aid, s in self._slot_of.items()}
        self._live_postings = sum(len(_arrays(p)[0]) for p in postings.values())
        self._dead_postings = 0

    def _query(self, text: str) -> tuple[list[tuple[float, str, int]], float]:
        """``[(idf, term, impact bound)]`` of the query terms some agent has, and their idf sum
        (the norm)."""
        n = self._live
        out = []
        words = terms(text)
        pairs = [f"{a} {b}" for a, b in pairwise(words)]
        for t in dict.fromkeys([*words, *pairs]):
            p = self._postings.get(t)
            if p is None:
                continue
            if type(p) is int:
                df, mx = 1, p & 0xFFFF
            else:
                assert isinstance(p, _Posting)
                df, mx = p.df, p.max
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            out.append((idf * PAIR_WEIGHT if " " in t else idf, t, mx))
        return out, sum(i for i, _, _ in out)

    def scores(self, text: str) -> dict[str, float]:
        """Agent id -> normalised score in (0, 1) for every agent matching a term of ``text``.
        The norm is the sum of the idf of the query terms some agent has (terms nobody has are
        ignored, so filler words in a sentence do not drag every score down)."""
        q, norm = self._query(text)
        if not q:
            return {}
        acc: dict[int, float] = {}
        for idf, t, _ in q:
            slots, impacts = _arrays(self._postings[t])
            get = acc.get
            for s, imp in zip(slots, impacts, strict=True):
                acc[s] = get(s, 0.0) + idf * imp
        scale = 1.0 / (_Q * norm)
        recs = self._recs
        out: dict[str, float] = {}
        for s, v in acc.items():
            r = recs[s]
            if r is not None:
                out[r.agent_id] = v * scale
        return out

    def postings(self, text: str) -> tuple[list[tuple[float, Sequence[int], Sequence[int]]],
                                            float]:
        """``[(idf, slots, impacts)]`` of the query terms some agent has, in the order
        :meth:`scores` adds them (its score of slot s: the sum of ``idf × impact`` over the
        terms holding s, divided by ``65535 × norm``), and the norm. Read before a change."""
        q, norm = self._query(text)
        return [(idf, *_arrays(self._postings[t])) for idf, t, _ in q], norm

    def slots_of(self, agent_ids: Iterable[str]) -> list[int]:
        """Each agent's slot in :meth:`postings` (-1 when not indexed)."""
        get = self._slot_of.get
        return [get(a, -1) for a in agent_ids]

    def agents_at(self, slots: Iterable[int]) -> list[str]:
        """The agent in each slot of :meth:`postings` ("" once replaced or removed)."""
        recs = self._recs
        return [r.agent_id if (r := recs[s]) is not None else "" for s in slots]

    @property
    def slots(self) -> int:
        """One more than the highest slot in use."""
        return len(self._recs)

    def scores_of(self, text: str, agent_ids: Iterable[str]) -> dict[str, float]:
        """:meth:`scores` for the given agents only (those matching no term are left out),
        equal to it bit for bit; each agent costs a binary search per query term."""
        arrays, norm = self.postings(text)
        if not arrays:
            return {}
        scale = 1.0 / (_Q * norm)
        slot_of = self._slot_of
        out: dict[str, float] = {}
        for aid in agent_ids:
            s = slot_of.get(aid)
            if s is None:
                continue
            v, hit = 0.0, False
            for idf, slots, impacts in arrays:  # the order scores() adds them in
                i = bisect.bisect_left(slots, s)
                if i < len(slots) and slots[i] == s:
                    v, hit = v + idf * impacts[i], True
            if hit:
                out[aid] = v * scale
        return out

    @staticmethod
    def _best(acc: dict[int, float], k: int,
              good: Callable[[int], bool]) -> list[tuple[int, float]]:
        """The ``k`` best accepted ``(slot, partial score)``, best first (fewer if fewer are
        accepted), every one that ties the k-th included. The predicate runs only on the best
        candidates, in score order, not on every accumulator."""
        m = 2 * k
        while True:
            head = heapq.nlargest(m, acc.items(), key=itemgetter(1))
            out = [sv for sv in head if good(sv[0])]
            if len(out) >= k or len(head) < m:
                break
            m *= 4
        if len(out) > k:  # the k best and their ties (head is sorted)
            kth = out[k - 1][1]
            out = [sv for sv in out if sv[1] >= kth]
        if len(out) >= k and len(head) == m and head[-1][1] == out[k - 1][1]:
            kth = out[k - 1][1]  # ties beyond the head: take them all
            seen = {s for s, _ in out}
            out.extend((s, v) for s, v in acc.items() if v == kth and s not in seen and good(s))
        return out

    def top(self, text: str, k: int,
            accept: Callable[[str], bool] | None = None) -> dict[str, float]:
        """The ``k`` best accepted agents for ``text`` (and every one that ties the k-th), with
        their normalised scores: exactly what :meth:`scores` would rank first, found without
        reading every posting. Terms go by falling upper bound (rarest first); once the terms
        left cannot lift an agent seen nowhere yet past the k-th best partial score, only the
        agents still in reach are completed, by binary search in the remaining (sorted)
        postings."""
        q, norm = self._query(text)
        if not q or k <= 0:
            return {}
        recs = self._recs
        ok: dict[int, bool] = {}

        def good(s: int) -> bool:
            v = ok.get(s)
            if v is None:
                r = recs[s]
                v = ok[s] = r is not None and (accept is None or accept(r.agent_id))
            return v

        # Scores are kept in units of the first term's idf, so that its postings become the
        # accumulators in one C-level dict() call (a one-word query costs little more).
        bounds = [(idf * mx, idf, t) for idf, t, mx in q]
        bounds.sort(reverse=True)
        unit = bounds[0][1]
        rest = sum(b for b, _, _ in bounds) / unit
        acc: dict[int, float] = dict(zip(*_arrays(self._postings[bounds[0][2]]), strict=True))
        theta = 0.0
        pruning = False
        for j, (ub_, idf, t) in enumerate(bounds):
            ub, f = ub_ / unit, idf / unit
            rest -= ub
            slots, imps = _arrays(self._postings[t])
            if not pruning:
                if j:
                    get = acc.get
                    for s, imp in zip(slots, imps, strict=True):
                        acc[s] = get(s, 0.0) + f * imp
                if rest > 0.0 and len(acc) >= k:
                    best = self._best(acc, k, good)
                    if len(best) >= k:
                        theta = best[k - 1][1]
                        pruning = rest < theta
                continue
            n = len(slots)
            reach = theta - ub - rest
            for s in list(acc):
                v = acc[s]
                if v < reach:
                    del acc[s]
                    continue
                i = bisect.bisect_left(slots, s)
                if i < n and slots[i] == s:
                    acc[s] = v + f * imps[i]
        scale = unit / (_Q * norm)
        out = {}
        for s, v in self._best(acc, k, good):
            r = recs[s]
            assert r is not None
            out[r.agent_id] = v * scale
        return out
