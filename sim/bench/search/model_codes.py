"""Codes of the relevance set from any configured embedder (``--embedder SPEC``), so the set
can judge an Ollama or OpenAI-compatible model as it judges the package's local one.

Every evidence text of the set and every query is embedded once, up front, through the
product's own embedder (its client library, batching, prefixes and checks), asking for
``purpose="passage"`` and ``purpose="query"`` as a node does; each vector is then quantised with
:func:`~gossipreg.core.search.vectors.quantize`, the scheme a node applies to a received
vector. The ranking reads only those codes, so the figures are the node's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vectors import quantize
from gossipreg.core.types import AgentRecord
from gossipreg.io.embed import make_embedder
from gossipreg.io.embed.protocol import Embedder, Purpose

__all__ = ["Codes", "embed_set"]


@dataclass(frozen=True)
class Codes:
    """The set's codes: ``passages`` for evidence texts, ``queries`` for query texts."""

    model_id: str
    dims: int
    passages: Callable[[list[str]], list[bytes]]
    queries: Callable[[list[str]], list[bytes]]
    seconds: float  # embedding every text, wall
    texts: int


def _lookup(table: dict[str, bytes]) -> Callable[[list[str]], list[bytes]]:
    def codes(texts: list[str]) -> list[bytes]:
        return [table[t] for t in texts]
    return codes


async def _embed(embedder: Embedder, texts: Sequence[str], purpose: Purpose,
                 batch: int) -> dict[str, bytes]:
    unique = list(dict.fromkeys(texts))
    out: dict[str, bytes] = {}
    for start in range(0, len(unique), batch):
        chunk = unique[start : start + batch]
        for text, vector in zip(chunk, await embedder.embed(chunk, purpose=purpose),
                                strict=True):
            out[text] = quantize(vector)
        print(f"  embedded {min(start + batch, len(unique))}/{len(unique)} {purpose} texts",
              flush=True)
    return out


def embed_set(spec: str, records: list[AgentRecord], queries: list[dict[str, Any]],
              batch: int = 32) -> Codes:
    """Embed the set with the embedder ``spec`` names (``make_embedder``'s grammar).

    Raises EmbedderConfigError for a bad spec and EmbedderError if the model fails.
    """
    embedder = make_embedder(spec)
    if embedder is None:
        raise SystemExit(f"--embedder {spec!r} names no embedder")
    passages = [t for r in records for t in evidence_texts(r)]

    async def run() -> tuple[dict[str, bytes], dict[str, bytes]]:
        p = await _embed(embedder, passages, "passage", batch)
        q = await _embed(embedder, [q["text"] for q in queries], "query", batch)
        return p, q

    t0 = time.perf_counter()
    p_codes, q_codes = asyncio.run(run())
    seconds = time.perf_counter() - t0
    dims = len(next(iter(p_codes.values())))
    return Codes(embedder.model_id, dims, _lookup(p_codes), _lookup(q_codes), seconds,
                 len(p_codes) + len(q_codes))
