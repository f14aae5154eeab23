"""Search through running nodes: records embedded off the loop by a deterministic fake embedder
(on every node, or once at the owner and carried under vec/), queries ranked by both kinds of
evidence, failures falling back to lexical ranking, and a node without the extra saying so."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _embedkit import StandIn, need_semantic, serve

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import ConfigError
from gossipreg.io.embed import EmbedderError, Purpose
from gossipreg.io.gossip_node import GossipNode
from gossipreg.io.net.transport import MemoryNetwork

pytestmark = pytest.mark.network
DIMS = 12
# The fake's vocabulary: each word points along one axis, so a text's vector is its words.
AXES = {"puppy": 0, "dog": 0, "jabs": 1, "vaccination": 1, "vet": 0, "rain": 2,
        "forecast": 2, "invoice": 3, "bill": 3, "sky": 2}


def fake_vector(text: str) -> list[float]:
    v = [0.0] * DIMS
    for w in text.lower().replace(".", " ").split():
        axis = AXES.get(w)
        if axis is not None:
            v[axis] += 1.0
        else:  # other words: a small deterministic wobble
            h = hashlib.sha256(w.encode()).digest()
            v[4 + h[0] % (DIMS - 4)] += 0.05
    return v


class Fake:
    """A deterministic in-process embedder (it has ``embed_sync``, so every node embeds)."""

    def __init__(self, model_id: str = "fake/axes-12", fail: bool = False) -> None:
        self._model_id = model_id
        self.fail = fail
        self.texts: list[tuple[str, int]] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dims(self) -> int:
        return DIMS

    def embed_sync(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        if self.fail:
            raise EmbedderError("fake: down")
        self.texts.extend((t, threading.get_ident()) for t in texts)
        return [fake_vector(t) for t in texts]

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        return await asyncio.to_thread(self.embed_sync, texts, purpose=purpose)


def card(name: str, desc: str) -> dict[str, Any]:
    return {"name": name, "description": desc, "capabilities": {},
            "skills": [{"id": name.lower(), "name": name, "description": desc, "tags": [],
                        "examples": []}]}


AGENTS = {"vet": card("PetCare", "vet visits for a dog"),
          "weather": card("Sky", "rain forecast"),
          "billing": card("Ledger", "invoice handling")}


async def until(pred: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def hybrid_done(node: GossipNode, n: int) -> bool:
    s = node.searching.status()
    return s["mode"] == "hybrid" and s["agents_with_vectors"] == n and s["pending"] == 0


@pytest.fixture
async def pair() -> AsyncIterator[tuple[GossipNode, GossipNode, Fake, Fake]]:
    fa, fb = Fake(), Fake()
    cfg = NodeConfig.local(heartbeat_timeout=None)
    a = GossipNode("a", config=cfg, embedder=fa)
    await a.start()
    b = GossipNode("b", config=cfg, embedder=fb, seeds=[a.address])
    await b.start()
    try:
        yield a, b, fa, fb
    finally:
        await b.shutdown()
        await a.shutdown()


async def test_every_node_embeds_in_a_worker_thread_and_answers_alike(
        pair: tuple[GossipNode, GossipNode, Fake, Fake]) -> None:
    a, b, fa, fb = pair
    await until(lambda: hybrid_done(a, 0) and hybrid_done(b, 0))
    for aid, c in AGENTS.items():
        await a.register(agent_id=aid, card=c)
    # Searchable lexically at once, before any vector exists.
    assert [h.agent.agent_id for h in a.search("invoice")] == ["billing"]
    await until(lambda: hybrid_done(a, 3) and hybrid_done(b, 3))
    # Records are embedded by each node itself, never on the event loop's thread (a query is
    # embedded where it is asked: a local model takes about a millisecond).
    loop = threading.get_ident()
    for fake in (fa, fb):
        records = [t for t, thread in fake.texts if t.startswith(("PetCare", "Sky", "Ledger"))]
        assert len(records) == 6 and all(thread != loop for t, thread in fake.texts
                                          if t in records)
    need = "my puppy is due for its jabs"  # no word of it is on any card
    assert [h.agent.agent_id for h in a.search(need)] == ["vet"]
    assert [(h.agent.agent_id, h.score) for h in b.search(need)] == \
        [(h.agent.agent_id, h.score) for h in a.search(need)]
    assert await b.search_async(need) == b.search(need)
    assert all("vec/" not in k for st in b.read.replica_state().values() for k in st[1])


async def test_a_failing_embedder_leaves_search_lexical_and_says_why() -> None:
    net = MemoryNetwork()
    fake = Fake(fail=True)
    node = GossipNode("a", network=net, config=NodeConfig.local(heartbeat_timeout=None),
                      embedder=fake)
    await node.start()
    try:
        await node.register(agent_id="billing", card=AGENTS["billing"])
        await until(lambda: "error" in node.searching.status())
        assert node.searching.status()["pending"] == 1  # given back, tried again later
        assert [h.agent.agent_id for h in node.search("invoice")] == ["billing"]
        fake.fail = False
        node.searching.poke()
    finally:
        await node.shutdown()


async def test_an_api_model_embeds_once_at_the_owner_and_vectors_travel() -> None:
    need_semantic("ollama")
    stand_in = StandIn(dims=DIMS)
    async with serve(stand_in) as url:
        cfg = NodeConfig.local(heartbeat_timeout=None, embedder=f"ollama:emb@{url}")
        other = NodeConfig.local(heartbeat_timeout=None, embedder=f"ollama:other@{url}")
        a = GossipNode("a", config=cfg)
        await a.start()
        b = GossipNode("b", config=cfg, seeds=[a.address])
        c = GossipNode("c", config=other, seeds=[a.address])
        for n in (b, c):
            await n.start()
        try:
            await until(lambda: all(n.searching.status()["mode"] == "hybrid" for n in (a, b, c)))
            before = len(stand_in.requests)
            for aid, crd in AGENTS.items():
                await a.register(agent_id=aid, card=crd)
            await until(lambda: hybrid_done(a, 3) and hybrid_done(b, 3))
            embedded = [t for _, body, _ in stand_in.requests[before:] for t in body["input"]]
            assert len(embedded) == 6  # two texts per record, once, by the owner
            assert c.searching.status()["agents_with_vectors"] == 0  # another model: ignored
            await until(lambda: len(c.read.visible) == 3)
            assert {h.agent.agent_id for h in await c.search_async("invoice")} == {"billing"}
            got = [(h.agent.agent_id, h.score) for h in await b.search_async("rain forecast")]
            assert got == [(h.agent.agent_id, h.score)
                           for h in await a.search_async("rain forecast")]
            assert b.search("rain forecast") == await b.search_async("rain forecast")  # cached
        finally:
            for n in (c, b, a):
                await n.shutdown()


async def test_without_the_extra_search_is_lexical_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "wordllama", None)  # as if not installed
    caplog.set_level(logging.INFO, logger="gossipreg.io.search")
    node = GossipNode("solo", network=MemoryNetwork(), config=NodeConfig.local())
    await node.start()
    try:
        await node.register(agent_id="billing", card=AGENTS["billing"])
        status = node.searching.status()
        assert status["mode"] == "lexical" and "pip install" in status["reason"]
        lines = [r.getMessage() for r in caplog.records if "lexical only" in r.getMessage()]
        assert len(lines) == 1 and "semantic extra" in lines[0]
        assert [h.agent.agent_id for h in node.search("invoice")] == ["billing"]
    finally:
        await node.shutdown()
    with pytest.raises(ConfigError, match="semantic"):  # asked for by name: an error
        GossipNode("x", network=MemoryNetwork(), config=NodeConfig.local(embedder="local"))


def test_a_spec_that_cannot_work_is_refused_when_the_node_is_made() -> None:
    with pytest.raises(ConfigError, match="URL"):
        GossipNode("x", network=MemoryNetwork(),
                   config=NodeConfig.local(embedder="ollama:m@ftp://host"))
    with pytest.raises(ConfigError, match="embedder"):
        NodeConfig.local(embedder="bert")
