"""Agent search benchmark: relevance on a labelled set, then the costs of hybrid search.

    python -m sim.bench.search [--set sim/bench/relevance] [--sizes 1000,10000,100000]
                               [--queries 300] [--memory-agents 20000] [--registrations 2000]
                               [--skip-scale] [--fusion] [--keyword] [--dims 256]
                               [--feedback 1.0] [--embedder SPEC]

Needs the semantic extra (the local model). Prints tables; writes nothing. ``--embedder``
judges another model on the relevance set instead (relevance only): any spec a node takes,
e.g. ``openai:<model>@http://127.0.0.1:8000/v1`` (``OPENAI_API_KEY`` set to any value for a
server that checks none) or ``ollama:<model>@http://127.0.0.1:11434``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gossipreg.core.search import hybrid
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vecindex import numpy_available
from gossipreg.io.embed import WordLlamaEmbedder
from sim.bench.search import fusion, keyword, model_codes, relevance, scale

HERE = Path(__file__).resolve().parents[1] / "relevance"


def print_relevance(res: relevance.Result, kinds: list[str]) -> None:
    for metric, title in (("ndcg10", "nDCG@10"), ("recall5", "recall@5"), ("mrr10", "MRR@10")):
        print(f"\n{title} (mean [95% bootstrap interval])")
        print(f"{'ranker':>10} " + " ".join(f"{k:>19}" for k in kinds))
        for ranker in relevance.RANKERS:
            cells = []
            for k in kinds:
                m, lo, hi = res[ranker][k][metric]
                cells.append(f"{m:.3f} [{lo:.3f},{hi:.3f}]")
            print(f"{ranker:>10} " + " ".join(f"{c:>19}" for c in cells))


def judge_embedder(folder: Path, spec: str) -> None:
    """The relevance tables for the embedder ``spec`` (every text embedded once, up front)."""
    records, queries = relevance.load_set(folder)
    kinds = [*sorted({q["kind"] for q in queries}), "all"]
    print(f"relevance set {folder}: {len(records)} cards, {len(queries)} queries; "
          f"embedder {spec!r}; feedback {hybrid.FEEDBACK}")
    codes = model_codes.embed_set(spec, records, queries)
    print(f"model {codes.model_id}: {codes.dims} dims; {codes.texts} texts embedded in "
          f"{codes.seconds:.1f} s ({1000 * codes.seconds / codes.texts:.1f} ms a text)")
    res = relevance.evaluate(records, queries, codes.passages, codes.dims,
                             query_codes=codes.queries)
    print_relevance(res, kinds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=HERE, help="folder of cards.json, queries.json")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--memory-agents", type=int, default=20_000)
    ap.add_argument("--registrations", type=int, default=2000)
    ap.add_argument("--skip-scale", action="store_true", help="relevance only")
    ap.add_argument("--fusion", action="store_true",
                    help="also: where hybrid falls short, other fusion rules, a split-half check")
    ap.add_argument("--keyword", action="store_true",
                    help="also: keyword queries hybrid loses, and fusion rules chosen on the odd"
                         " query ids, reported on the even ones")
    ap.add_argument("--feedback", type=float, default=None,
                    help="the node's feedback weight for this run (0: none; default: the node's)")
    ap.add_argument("--dims", type=int, default=256,
                    help="the local model cut to 64 or 128 dimensions (a weaker model)")
    ap.add_argument("--embedder", metavar="SPEC",
                    help="judge this embedder (a node's --embedder spec) on the relevance set")
    args = ap.parse_args()
    if args.feedback is not None:
        hybrid.FEEDBACK = args.feedback
    if args.embedder:
        judge_embedder(args.set, args.embedder)
        return

    model = WordLlamaEmbedder(dims=args.dims)
    t0 = time.perf_counter()
    model.load()
    print(f"model {model.model_id}: loaded in {time.perf_counter() - t0:.2f} s (this process); "
          f"feedback {hybrid.FEEDBACK}; "
          f"numpy {'on' if numpy_available() else 'OFF: pure-Python scoring'}")
    records, queries = relevance.load_set(args.set)
    kinds = [*sorted({q["kind"] for q in queries}), "all"]
    counts = {k: sum(q["kind"] == k for q in queries) for k in kinds[:-1]}
    print(f"relevance set {args.set}: {len(records)} cards, {len(queries)} queries {counts}")
    res = relevance.evaluate(records, queries, model.codes_sync, model.dims)
    print_relevance(res, kinds)
    if args.fusion:
        fusion.report(fusion.evidence(records, queries, model.codes_sync, model.dims))
    if args.keyword:
        keyword.report(keyword.evidence(records, queries, model.codes_sync, model.dims))
    if args.skip_scale:
        return

    import numpy as np

    pool = np.asarray(model.embed_sync([t for r in records for t in evidence_texts(r)]))
    qcodes = model.codes_sync([q["text"] for q in queries])
    print("\nlatency of a top-10 search, in process (ms; 2-4 int8 vectors of 256 dims/agent);"
          "\n'exact' reads every code (the ranking without the sign-code pool), interleaved with"
          "\nthe others in one run; overlap@10 and score mass: the pooled page against the exact;"
          "\ncpu: this process's CPU time per query (p50), unlike wall time not inflated by"
          "\nother work on the machine")
    print(f"{'agents':>8} {'lexical p50':>12} {'p99':>8} {'hybrid p50':>11} {'p99':>8}"
          f" {'cpu':>6} {'exact p50':>10} {'p99':>8} {'cpu':>6} {'speed-up':>9}"
          f" {'overlap@10':>11} {'mass':>6} {'+ query embed p50':>18}")
    for n in (int(s) for s in args.sizes.split(",") if s):
        r = scale.latency(n, pool, qcodes, args.queries, lambda t: model.codes_sync([t])[0])
        print(f"{n:>8} {r['lexical_p50']:>12.2f} {r['lexical_p99']:>8.2f}"
              f" {r['hybrid_p50']:>11.2f} {r['hybrid_p99']:>8.2f} {r['hybrid_cpu_p50']:>6.2f}"
              f" {r['exact_p50']:>10.2f} {r['exact_p99']:>8.2f} {r['exact_cpu_p50']:>6.2f}"
              f" {r['exact_p50'] / r['hybrid_p50']:>8.2f}x {r['overlap10']:>11.3f}"
              f" {r['score_mass']:>6.3f} {r['embed_query_p50']:>18.2f}", flush=True)
    without, with_ = scale.memory(args.memory_agents, pool)
    print(f"\nmemory per agent ({args.memory_agents} A2A agents, tracemalloc): "
          f"{without:,.0f} B without vectors, {with_:,.0f} B with ({with_ - without:+,.0f} B)")
    print(f"model load (fresh process, import + load): {scale.model_load():.2f} s")
    ms, texts = scale.embedding_cost(records, model.codes_sync)
    print(f"embedding per registration (batches of 32): {ms:.2f} ms for {texts:.1f} texts")
    cards = json.loads((args.set / "cards.json").read_text(encoding="utf-8"))
    reg = scale.registration([c["card"] for c in cards], args.registrations)
    ratio = reg["on_embedded_per_s"] / reg["off_per_s"]
    print(f"registrations/s ({args.registrations}, one run): off {reg['off_per_s']:,.0f}; "
          f"local model on: calls {reg['on_calls_per_s']:,.0f}, with every vector in "
          f"{reg['on_embedded_per_s']:,.0f} (ratio on/off {ratio:.2f})")


if __name__ == "__main__":
    main()
