"""Why hybrid loses where it does, and whether the fusion rule is chosen or fitted.

The same evidence the node fuses (each agent's lexical score and best cosine, from one core index
over the relevance set) is re-fused offline by other rules, so rules are compared on identical
inputs; ``fixed 0.40`` is the node's rule without feedback (``--feedback 0``) and reproduces
its figures (the set is small enough that the node scores every agent exactly); the node's
feedback is studied by :mod:`sim.bench.search.keyword` (``--keyword``). Printed:

- nDCG@10 per kind counting every label, and counting grades 2-3 only (how much of a shortfall
  is the weak, grade-1 tail);
- per kind, the queries where hybrid beats or loses to lexical alone;
- other fusion rules on the same evidence (a lexical weight that follows the best lexical
  score, score maximum, reciprocal rank fusion, lexical matches first on keyword-like queries);
- a split-half check of the lexical weight: chosen on a random half of each kind, reported on
  the other half (20 splits), beside the node's 0.4 on the same halves.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from sim.bench.search.relevance import build, ndcg

__all__ = ["report"]

Evidence = list[tuple[dict[str, Any], dict[str, float], dict[str, float]]]
Rule = Callable[[dict[str, float], dict[str, float]], dict[str, float]]
KINDS = ("keyword", "paraphrase", "need", "multi", "all")
MIN_SCORE = 0.11


def evidence(records: list[Any], queries: list[dict[str, Any]],
             codes: Callable[[list[str]], list[bytes]], dims: int) -> Evidence:
    """``(query, lexical scores, cosines)`` per query, from the index a node would hold."""
    idx = build(records, codes, dims)
    out = []
    for q, code in zip(queries, codes([q["text"] for q in queries]), strict=True):
        idx.search(q["text"], limit=1)  # the ranker takes the records
        vectors = idx.vectors
        assert vectors is not None
        cos = {a: v / 127**2 for a, v in vectors.scores(code).above(-(1 << 40))}
        out.append((q, idx.ranker.scores(q["text"]), cos))
    return out


def fixed(w: float) -> Rule:
    return lambda lex, cos: {a: w * lex.get(a, 0.0) + (1 - w) * max(c, 0.0)
                             for a, c in cos.items()}


def _follow_lexical(lex: dict[str, float], cos: dict[str, float]) -> dict[str, float]:
    return fixed(max(0.4, max(lex.values(), default=0.0)))(lex, cos)


def _score_max(lex: dict[str, float], cos: dict[str, float]) -> dict[str, float]:
    return {a: max(lex.get(a, 0.0), s) for a, s in fixed(0.4)(lex, cos).items()}


def _lexical_first(lex: dict[str, float], cos: dict[str, float]) -> dict[str, float]:
    keyword_like = max(lex.values(), default=0.0) >= 0.5  # one agent has half its evidence
    return {a: s + (1.0 if keyword_like and a in lex else 0.0)
            for a, s in fixed(0.4)(lex, cos).items()}


def _rrf(k: int, wv: float) -> Rule:
    def rule(lex: dict[str, float], cos: dict[str, float]) -> dict[str, float]:
        lr = {a: i for i, a in enumerate(sorted(lex, key=lambda a: (-lex[a], a)))}
        vr = {a: i for i, a in enumerate(sorted(cos, key=lambda a: (-cos[a], a)))}
        return {a: (1 / (k + 1 + lr[a]) if a in lr else 0.0) + wv / (k + 1 + vr[a])
                for a in cos}
    return rule


def _ranked(scores: dict[str, float], floor: float) -> list[str]:
    return sorted((a for a, s in scores.items() if s >= floor),
                  key=lambda a: (-round(scores[a] * 1e6), a))[:10]


def per_query(ev: Evidence, rule: Rule, floor: float = MIN_SCORE,
              grades: int = 1) -> list[float]:
    return [ndcg(_ranked(rule(lex, cos), floor),
                 {a: g for a, g in q["relevant"].items() if g >= grades}) for q, lex, cos in ev]


def means(ev: Evidence, values: list[float], only: set[int] | None = None) -> dict[str, float]:
    got: dict[str, list[float]] = {k: [] for k in KINDS}
    for i, ((q, _, _), v) in enumerate(zip(ev, values, strict=True)):
        if only is None or i in only:
            got[q["kind"]].append(v)
            got["all"].append(v)
    return {k: sum(v) / len(v) for k, v in got.items() if v}


def _row(name: str, m: dict[str, float]) -> str:
    return f"{name:>24} " + " ".join(f"{m[k]:>10.3f}" for k in KINDS)


def report(ev: Evidence, splits: int = 20, seed: int = 7) -> None:
    """Print the analysis (see the module docstring)."""
    head = f"{'nDCG@10':>24} " + " ".join(f"{k:>10}" for k in KINDS)
    hybrid, lexical = per_query(ev, fixed(0.4)), per_query(ev, fixed(1.0), 1e-9)
    print("\nwhere the shortfall is (hybrid, the node's rule without feedback)\n" + head)
    print(_row("every label", means(ev, hybrid)))
    print(_row("grades 2-3 only", means(ev, per_query(ev, fixed(0.4), grades=2))))
    print("\nhybrid against lexical alone, per query (wins / losses / sum of losses)")
    for kind in KINDS[:-1]:
        idx = [i for i, (q, _, _) in enumerate(ev) if q["kind"] == kind]
        wins = sum(hybrid[i] > lexical[i] + 1e-9 for i in idx)
        lost = [hybrid[i] - lexical[i] for i in idx if hybrid[i] < lexical[i] - 1e-9]
        print(f"{kind:>12}: {wins} / {len(lost)} / {sum(lost):+.3f} of {len(idx)} queries")
    rules: dict[str, tuple[Rule, float]] = {
        "lexical alone": (fixed(1.0), 1e-9), "vector alone": (fixed(0.0), 1e-9),
        "fixed 0.40 (no feedback)": (fixed(0.4), MIN_SCORE),
        "weight = max(.4, best lex)": (_follow_lexical, MIN_SCORE),
        "max(lex, fused)": (_score_max, MIN_SCORE),
        "lexical first if best>=.5": (_lexical_first, MIN_SCORE),
        "RRF k=60": (_rrf(60, 1.0), 0.0), "RRF k=10, vector 1.5": (_rrf(10, 1.5), 0.0)}
    print("\nthe same evidence, other fusion rules\n" + head)
    for name, (rule, floor) in rules.items():
        print(_row(name, means(ev, per_query(ev, rule, floor))))
    weights = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    by_w = {w: per_query(ev, fixed(w)) for w in weights}
    rng = random.Random(seed)
    chosen: Counter[float] = Counter()
    held: dict[str, list[float]] = {k: [] for k in KINDS}
    base: dict[str, list[float]] = {k: [] for k in KINDS}
    for _ in range(splits):
        half: set[int] = set()
        for kind in KINDS[:-1]:
            idx = [i for i, (q, _, _) in enumerate(ev) if q["kind"] == kind]
            rng.shuffle(idx)
            half.update(idx[:len(idx) // 2])
        other = set(range(len(ev))) - half
        best = max(weights, key=lambda w: means(ev, by_w[w], half)["all"])
        chosen[best] += 1
        for k, v in means(ev, by_w[best], other).items():
            held[k].append(v)
        for k, v in means(ev, by_w[0.4], other).items():
            base[k].append(v)
    print(f"\nlexical weight chosen on half the queries ({splits} splits): {dict(chosen)}\n"
          + head)
    print(_row("held-out half, chosen w", {k: sum(v) / len(v) for k, v in held.items()}))
    print(_row("held-out half, w = 0.4", {k: sum(v) / len(v) for k, v in base.items()}))
