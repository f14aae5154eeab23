"""The HTTP API shows an agent's published load beside its other fields (the page reads it)."""

from __future__ import annotations

import httpx
import pytest

from gossipreg import GossipNode, NodeConfig

pytestmark = pytest.mark.network


async def test_agents_carry_the_load_their_owner_published() -> None:
    node = await GossipNode("n0", config=NodeConfig.local()).start()
    try:
        await node.register(agent_id="a1", name="A", capabilities=["x"])
        async with httpx.AsyncClient(base_url=f"http://{node.address}") as http:
            assert (await http.get("/v1/agents/a1")).json()["load"] is None
            assert await node.set_load("a1", 3, 4)  # the first report is written at once
            want = {"active_tasks": 3, "max_concurrency": 4}
            assert (await http.get("/v1/agents/a1")).json()["load"] == want
            assert [a["load"] for a in (await http.get("/v1/agents")).json()] == [want]
    finally:
        await node.shutdown()
