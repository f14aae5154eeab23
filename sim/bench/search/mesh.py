"""The held-out protocol on our own set: cards registered over HTTP on one node, queries asked
with ARD ``POST /ard/v1/search`` on another, both with the local model; the answers compared
with the in-process benchmark's hybrid ranking, query by query.

    python -m sim.bench.search.mesh [--set sim/bench/relevance]

Two nodes on loopback in this process. The second node embeds every record itself (the local
model runs on every node); the queries start once it holds vectors for every agent and nothing
is pending. Prints nDCG@10 per kind and how many first pages equal the in-process ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from gossipreg.core.config import NodeConfig
from gossipreg.core.search.ard import parse_urn
from gossipreg.io.embed import WordLlamaEmbedder
from gossipreg.io.gossip_node import GossipNode
from sim.bench.search import relevance

HERE = Path(__file__).resolve().parents[1] / "relevance"


async def _until(pred: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError("the second node did not embed every record in time")
        await asyncio.sleep(0.05)


async def run(folder: Path) -> None:
    """Register, query over HTTP, compare (see the module docstring)."""
    cards = json.loads((folder / "cards.json").read_text(encoding="utf-8"))
    records, queries = relevance.load_set(folder)
    cfg = NodeConfig.local(heartbeat_timeout=None, embedder="local")
    a = GossipNode("a", bind="127.0.0.1:0", config=cfg)
    await a.start()
    b = GossipNode("b", bind="127.0.0.1:0", config=cfg, seeds=[a.address])
    await b.start()
    try:
        async with aiohttp.ClientSession() as http:
            for c in cards:
                async with http.post(f"http://{a.address}/v1/agents",
                                     json={"agent_id": c["agent_id"], "card": c["card"]}) as r:
                    r.raise_for_status()

            def done() -> bool:
                s = b.searching.status()
                return bool(s["mode"] == "hybrid" and s["agents_with_vectors"] == len(cards)
                            and s["pending"] == 0)

            await _until(done, 120.0)
            got: list[list[str]] = []
            for q in queries:
                body = {"query": {"text": q["text"]}, "pageSize": 10}
                async with http.post(f"http://{b.address}/ard/v1/search", json=body) as r:
                    r.raise_for_status()
                    out = await r.json()
                got.append([parse_urn(e["identifier"]) or "?" for e in out["results"]])
    finally:
        await b.shutdown()
        await a.shutdown()
    model = WordLlamaEmbedder()
    model.load()
    idx = relevance.build(records, model.codes_sync, model.dims)
    codes = model.codes_sync([q["text"] for q in queries])
    same = 0
    per: dict[str, list[float]] = {}
    for q, code, mesh in zip(queries, codes, got, strict=True):
        local = relevance.rankings(idx, q["text"], code)["hybrid"]
        same += local == mesh
        for k in (q["kind"], "all"):
            per.setdefault(k, []).append(relevance.ndcg(mesh, q["relevant"]))
    print(f"{len(cards)} cards registered over HTTP on node a; {len(queries)} queries by ARD"
          f" POST /search on node b: {same} first pages equal the in-process hybrid ones")
    print("nDCG@10 over the mesh: " + ", ".join(
        f"{k} {sum(v) / len(v):.3f}" for k, v in sorted(per.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=HERE, help="folder of cards.json, queries.json")
    asyncio.run(run(ap.parse_args().set))


if __name__ == "__main__":
    main()
