"""Ranking for free text: lexical and vector evidence fused into one integer score per agent.

Rules:
- Evidence: ``lex`` in [0, 1), the lexical (BM25F) score (:mod:`~gossipreg.core.search.rank`),
  and, for an agent with vectors in the node's model, ``cos``: the best dot product of the
  query's code with the agent's codes divided by 127², about the cosine of the closest of its
  evidence texts (the whole card, each skill: :func:`~gossipreg.core.search.terms.evidence_texts`).
- Fusion (with a query code): ``score = LEX_WEIGHT × lex + (1 − LEX_WEIGHT) × max(cos, 0)``,
  a weighted sum of the two normalised scores (not of ranks: a rank says nothing of how good
  the first one is, and the sum keeps a score's meaning across queries). An agent without
  vectors (not embedded yet, or only in another model) is scored on its lexical evidence
  alone: ``score = lex``.
- Integers: ``lex`` is rounded to millionths (``lex_u``), the cosine is taken in millionths by
  integer division of the exact dot product (``cos_u``), and the fused score is the integer
  ``2 × lex_u + 3 × cos_u`` (five millionths per unit): results are ordered by integers, so
  nodes holding the same records and vectors answer alike on any CPU.
- Feedback (pseudo-relevance feedback, Rocchio's): the query's code is first ranked as
  above over every agent, whatever the filters; the code of the first result nearest the
  query (the first of equal ones) is added to the query's, times :data:`FEEDBACK`, and the
  sum quantised again (:func:`~gossipreg.core.search.vectors.quantize_sum`, correctly
  rounded like every quantisation) is the code every cosine is taken with.
  A terse query ("container image CVE scan") then finds the neighbours of its best match
  (the dependency scanner beside the container scanner), not the agents that happen to
  share a word's direction ("image": the illustrator). Taken over every agent, the feedback
  code depends on the query and the records alone: a filter changes who is shown, never a
  score. When nothing reaches :data:`MIN_SCORE` the query is a miss; when the first result
  has no vectors the query's own code is used. It costs a second ranking (the first asks
  for one result).
- Threshold: with a query code a result scores at least :data:`MIN_SCORE`; below it nothing
  is returned, so a query that matches no term and lies far from every agent stays a miss.
  Without one (lexical only) any agent matching a query term is returned.
- Order: score descending, ties by agent id. Filters select candidates; they never change a
  score.
- Top k without scoring everyone (exact): the ``m`` best agents by each kind of evidence get
  both scores, giving a provisional page whose last score is ``T``. An agent outside the
  lexical list has at most the m-th lexical score ``L``, so it can reach ``T`` only with a
  cosine of ``(T − 2L) / 3`` or more: those agents (found from the vector scores, which are
  all computed anyway) are scored too, and the page is final. Agents without vectors reach at
  most ``5L``; while that is not below ``T``, ``m`` doubles. Past a quarter of the agents
  everyone is scored.
- Top k at scale (more live codes than ``VectorIndex.exact_rows``, with numpy): reading every
  code per query is what costs, so the vector candidates are a pool instead
  (:meth:`~gossipreg.core.search.vecindex.VectorIndex.pool`: the agents owning the
  :data:`POOL_ROWS` codes, or 1/:data:`POOL_SHARE` of them if more, nearest the query by
  sign code, with their exact cosines), while the lexical scores of every agent matching a
  query term are computed at once (numpy over the query terms' postings: the same float
  operations in the same order as :meth:`~gossipreg.core.search.rank.LexicalRanker.scores`,
  so the same integers). Every pool agent is fused; so is every lexical match outside the
  pool among the :data:`POOL_LEXICAL` (or ``2 × end``) best by lexical score, ties included,
  its cosine computed exactly. Then, against the page's last score ``T``, any other lexical
  match that could still reach it, ``2 × lex + 3 × max(lex, edge) >= T`` (``edge``: the
  best cosine among the pool's farthest codes; a code outside the pool is expected to lie
  no closer), is fused exactly too, until none is left. While the page is not full (filters,
  or few good agents) and the pool's edge could still reach it, the pool grows fourfold.
  The scores are the same integers as above; only which agents are looked at is
  approximate (an agent far by signs but close by dot product, with no query term, can be
  missed), and the choice depends on the records and codes held alone (never on the order
  they came in), so converged nodes still answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gossipreg.core.search.postings import QUANT as _Q
from gossipreg.core.search.rank import LexicalRanker
from gossipreg.core.search.vecindex import NONE, VectorIndex, VectorScores
from gossipreg.core.search.vectors import SCORE_SCALE, quantize_sum
from gossipreg.core.search.vectors import dot as _dot

__all__ = ["FEEDBACK", "LEX_WEIGHT", "MIN_SCORE", "ard_score", "rank"]

#: Weight of the lexical score in the fused score (the vector score has the rest).
LEX_WEIGHT = 0.4
#: The least fused score returned when a query code is given.
MIN_SCORE = 0.11
#: Weight of the best match's code in the query's feedback code (0: no feedback).
FEEDBACK = 1.0
#: Codes in the first pool of a top-k query at scale (see the module rules).
POOL_ROWS = 256
#: ... or this fraction of the live codes, if more.
POOL_SHARE = 256
#: The least depth of the lexical list beside a pool.
POOL_LEXICAL = 20
_MICRO = 1_000_000
_LEX, _VEC = 2, 3  # LEX_WEIGHT and 1 - LEX_WEIGHT in fifths
_UNIT = (_LEX + _VEC) * _MICRO  # a fused integer per unit of score
_MIN = round(MIN_SCORE * _UNIT)
# The least dot product that can reach _MIN on its own: _VEC * dot * 10**6 // 127**2 >= _MIN.
_FLOOR_DOT = -(-_MIN * SCORE_SCALE // (_VEC * _MICRO))

Accept = Callable[[str], bool]


def ard_score(score: float) -> int:
    """ARD's integer relevance (0–100) of a score in [0, 1]."""
    return max(0, min(100, round(100 * score)))


def _cos_u(dot: int) -> int:
    return min(_MICRO, max(0, dot) * _MICRO // SCORE_SCALE)


def _page(scored: list[tuple[int, str]], accept: Accept, end: int | None,
          offset: int) -> list[tuple[str, int]]:
    """``scored`` as ``(-score, id)`` pairs, sorted, then filtered until the page is full."""
    scored.sort()
    out: list[tuple[str, int]] = []
    for neg, aid in scored:
        if accept(aid):
            out.append((aid, -neg))
            if end is not None and len(out) >= end:
                break
    return out[offset:]


def rank(text: str, query: bytes | None, lexical: LexicalRanker, vectors: VectorIndex | None,
         accept: Accept, limit: int | None, offset: int) -> list[tuple[str, float]]:
    """``(agent id, score)`` of the agents ``accept`` lets through, best first, the page
    ``[offset, offset + limit)`` of them (see the module rules). ``query`` is the query's code
    in the model of ``vectors``; without it (or without vectors) the ranking is lexical."""
    memo: dict[str, Any] = {}  # what both rankings share (the lexical scores at scale)
    if query is not None and vectors is not None and len(query) == vectors.dims and FEEDBACK:
        query = _feedback(text, query, lexical, vectors, memo)
        if query is None:  # nothing reaches MIN_SCORE for the query itself: a miss
            return []
    return _rank(text, query, lexical, vectors, accept, limit, offset, memo)


def _everyone(_: str) -> bool:
    return True


def _feedback(text: str, query: bytes, lexical: LexicalRanker, vectors: VectorIndex,
              memo: dict[str, Any]) -> bytes | None:
    """The query's code moved toward its best match's (see the module rules), or None when no
    agent reaches :data:`MIN_SCORE`."""
    top = _rank(text, query, lexical, vectors, _everyone, 1, 0, memo)
    if not top:
        return None
    codes = vectors.codes(top[0][0])
    if not codes:  # the best match has no vectors yet: no feedback
        return query
    np = vectors.numpy
    if np is not None:  # exact integer dot products either way; argmax: the first of equal
        rows = np.frombuffer(b"".join(codes), dtype=np.int8).reshape(len(codes), -1)
        best = codes[int(np.argmax(rows.astype(np.int32) @ np.frombuffer(query, np.int8)))]
    else:
        best = max(codes, key=lambda c: _dot(query, c))  # the first of equal ones
    return quantize_sum(query, best, FEEDBACK)


def _rank(text: str, query: bytes | None, lexical: LexicalRanker, vectors: VectorIndex | None,
          accept: Accept, limit: int | None, offset: int,
          memo: dict[str, Any]) -> list[tuple[str, float]]:
    """:func:`rank` for a given code, without feedback (``memo``: see :func:`_pooled`)."""
    end = None if limit is None else offset + limit
    if query is None or vectors is None or len(query) != vectors.dims:
        # top-k: the ranker skips what cannot make the page
        lex = lexical.top(text, end, accept) if end is not None else lexical.scores(text)
        scored = [(-round(v * _MICRO), aid) for aid, v in lex.items()]
        return [(aid, s / _MICRO) for aid, s in _page(scored, accept, end, offset)]
    if end is not None and vectors.prefilters:
        pooled = _pooled(text, query, lexical, vectors, accept, end, memo)
        if pooled is not None:
            return [(aid, s / _UNIT) for aid, s in pooled[offset:]]
    got = vectors.scores(query)
    page = None if end is None else _top(text, lexical, got, len(lexical), accept, end)
    if page is None:  # every agent scored
        lex = lexical.scores(text)
        fused = {aid: _VEC * _cos_u(dot) for aid, dot in got.above(_FLOOR_DOT)}
        fused.update(_fuse(lex, got))
        page = _page([(-s, aid) for aid, s in fused.items() if s >= _MIN], accept, end, 0)
    return [(aid, s / _UNIT) for aid, s in page[offset:]]


def _pooled(text: str, query: bytes, lexical: LexicalRanker, vectors: VectorIndex,
            accept: Accept, end: int, memo: dict[str, Any]) -> list[tuple[str, int]] | None:
    """The first ``end`` accepted results from a pool of vector candidates and every lexical
    match (see the module rules); None once the pool would be every code."""
    np = vectors.numpy
    # Every agent matching a term, ascending; kept in ``memo`` for the feedback's second
    # ranking of the same text (read only, never changed here).
    if "lex" not in memo:
        memo["lex"] = _lexical_micro(np, lexical, text)
    slots, lex = memo["lex"]
    depth, rows = max(POOL_LEXICAL, 2 * end), max(POOL_ROWS, vectors.rows // POOL_SHARE)
    while True:
        pool = vectors.pool(query, rows)
        if pool is None:
            return None
        edge = _cos_u(pool.edge)
        # The pool's agents: cosine and lexical score (found by slot), fused.
        pslots = np.array(lexical.slots_of(pool.ids), dtype=np.int64)
        at = np.minimum(np.searchsorted(slots, pslots), max(0, len(slots) - 1))
        hit = slots[at] == pslots if len(slots) else np.zeros(len(pool), dtype=bool)
        cos = np.minimum(_MICRO, np.maximum(pool.dots, 0) * _MICRO // SCORE_SCALE)
        ids = list(pool.ids)
        parts = [_LEX * np.where(hit, lex[at] if len(slots) else 0, 0) + _VEC * cos]
        # Lexical matches outside the pool, best first: the first `depth` exactly, then any
        # that could still reach the page (a cosine above the pool's edge is not expected).
        left = np.ones(len(slots), dtype=bool)
        left[at[hit]] = False
        bound = _LEX * lex + _VEC * np.maximum(lex, edge)
        todo = np.flatnonzero(left)
        if len(todo) > depth:  # the `depth` best and every tie of the last (not slot order)
            kth = np.partition(lex[todo], len(todo) - depth)[len(todo) - depth]
            todo = todo[lex[todo] >= kth]
        while True:
            if len(todo):
                left[todo] = False
                parts.append(_exact(vectors, query, lexical, slots[todo], lex[todo], ids))
            page = _page_np(np, ids, np.concatenate(parts), accept, end)
            least = page[end - 1][1] if len(page) >= end else _MIN
            todo = np.flatnonzero(left & (bound >= least))
            if not len(todo):
                break
        if len(page) >= end or _VEC * edge < least:
            return page
        rows, depth = 4 * rows, 4 * depth


def _lexical_micro(np: Any, lexical: LexicalRanker, text: str) -> tuple[Any, Any]:
    """numpy: ``(slots, lex_u)`` of every slot matching a term of ``text`` (ascending; dead
    slots too: their ids are None), ``lex_u`` the score in millionths, the same integers as
    :meth:`LexicalRanker.scores` gives (the same float operations in the same order)."""
    postings, norm = lexical.postings(text)
    if not postings:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    acc = lexical.scratch
    if acc is None or len(acc) < lexical.slots:
        acc = lexical.scratch = np.zeros(max(1024, 2 * lexical.slots), dtype=np.float64)
    for idf, sl, imps in postings:
        s = np.asarray(sl, dtype=np.int64)  # a copy: an array.array view would pin its size
        acc[s] += idf * np.asarray(imps, dtype=np.float64)
    slots = np.flatnonzero(acc[:lexical.slots])  # every term's idf and impact is > 0
    got = acc[slots]
    acc[slots] = 0.0
    return slots, np.rint(got * (1.0 / (_Q * norm)) * _MICRO).astype(np.int64)


def _exact(vectors: VectorIndex, query: bytes, lexical: LexicalRanker, slots: Any, lex: Any,
           ids: list[str]) -> Any:
    """The fused integers of the agents in ``slots`` (appended to ``ids``; a dead slot gets
    an empty id and a score below any)."""
    np = vectors.numpy
    who = lexical.agents_at(slots.tolist())
    dots = vectors.best_array(query, who)
    cos = np.minimum(_MICRO, np.maximum(dots, 0) * _MICRO // SCORE_SCALE)
    out = np.where(dots == NONE, (_LEX + _VEC) * lex, _LEX * lex + _VEC * cos)
    out[np.fromiter(map(bool, who), dtype=bool, count=len(who)) == 0] = -1
    ids.extend(who)
    return out


def _page_np(np: Any, ids: list[str], scores: Any, accept: Accept,
             end: int) -> list[tuple[str, int]]:
    """:func:`_page` of ``(ids[i], scores[i])`` at or above :data:`MIN_SCORE`, sorting only
    the best few (more while ``accept`` turns too many away)."""
    n, k = len(scores), end
    while True:
        kth = int(np.partition(scores, n - k)[n - k]) if k < n else _MIN
        idx = np.flatnonzero(scores >= max(kth, _MIN))
        page = _page([(-s, ids[i]) for i, s in zip(idx.tolist(), scores[idx].tolist(),
                                                     strict=True)], accept, end, 0)
        if len(page) >= end or k >= n or kth < _MIN:
            return page
        k *= 4


def _fuse(lex: dict[str, float], got: VectorScores | dict[str, int]) -> dict[str, int]:
    """The fused integer of each agent with a lexical score."""
    out = {}
    for aid, v in lex.items():
        dot = got.get(aid)
        lex_u = round(v * _MICRO)
        out[aid] = (_LEX * lex_u + _VEC * _cos_u(dot) if dot is not None
                    else (_LEX + _VEC) * lex_u)
    return out


def _top(text: str, lexical: LexicalRanker, got: VectorScores, n: int, accept: Accept,
         end: int) -> list[tuple[str, int]] | None:
    """The first ``end`` accepted results, exactly (see the module rules); None when that
    would take scoring a quarter of the agents or more."""
    m = max(32, 4 * end)
    all_have_vectors = got.count() >= n
    while 4 * m < n:
        lex_top = lexical.top(text, m)
        # The most an agent outside the lexical list scores lexically (one micro-unit of
        # slack: top() sums in another order than scores_of()).
        lex_m = min(lex_top.values()) if len(lex_top) >= m else 0.0
        lex_u = round(lex_m * _MICRO) + (1 if lex_m else 0)
        vec_top, _ = got.top(m)
        fused = {aid: _VEC * _cos_u(dot) for aid, dot in vec_top}
        fused.update(_fuse(lexical.scores_of(text, {*lex_top, *fused}), got))
        page = _page([(-s, aid) for aid, s in fused.items() if s >= _MIN], accept, end, 0)
        least = page[end - 1][1] if len(page) >= end else _MIN
        if not all_have_vectors and (_LEX + _VEC) * lex_u >= least:
            m *= 2  # an agent without vectors, outside the list, could still make the page
            continue
        # Outside the lexical list, reaching `least` takes a cosine of (least - 2L) / 3.
        need = max(0, least - _LEX * lex_u)
        floor = -(-need * SCORE_SCALE // (_VEC * _MICRO))
        extra = [(aid, dot) for aid, dot in got.above(floor) if aid not in fused]
        if 4 * (len(fused) + len(extra)) >= n:
            return None
        fused.update((aid, _VEC * _cos_u(dot)) for aid, dot in extra)
        fused.update(_fuse(lexical.scores_of(text, (aid for aid, _ in extra)), got))
        return _page([(-s, aid) for aid, s in fused.items() if s >= _MIN], accept, end, 0)
    return None
