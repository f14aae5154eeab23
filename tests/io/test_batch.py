"""Many agents in one call: ``AgentRegistry.register_agents`` and ``POST /v1/agents:batch``,
each item registered or refused on its own, within the stated limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest

from gossipreg import AgentRegistry, GossipNode, NodeConfig
from gossipreg.core.errors import AgentExistsError, InvalidArgumentError
from gossipreg.io.api.models import BATCH_BODY_LIMIT, BATCH_MAX_AGENTS
from gossipreg.registry import MAX_BATCH


async def test_register_agents_per_item_answers() -> None:
    async with AgentRegistry() as reg:
        await reg.register_agent(SimpleNamespace(_a2a_card={"capabilities": ["x"]}), "rt",
                                 agent_id="taken")
        got = await reg.register_agents([
            SimpleNamespace(agent_id="a", _a2a_card={"capabilities": ["python code"]}),
            {"agent": SimpleNamespace(name="B"), "agent_id": "b", "capabilities": ["sql"],
             "tags": ["eu"], "runtime_id": "rt-2"},
            {"agent": SimpleNamespace(), "agent_id": "taken", "capabilities": ["x"]},
            {"agent": SimpleNamespace(), "agent_id": "bad", "capabilities": "not a list"},
            {"agent": SimpleNamespace(), "agent_id": "b", "capabilities": ["again"]},
            {"agent": SimpleNamespace(), "agent_id": "c", "colour": "blue"},
        ], "rt")
        assert got[:2] == ["a", "b"]
        assert isinstance(got[2], AgentExistsError) and isinstance(got[4], AgentExistsError)
        assert isinstance(got[3], InvalidArgumentError)
        assert isinstance(got[5], InvalidArgumentError) and "colour" in str(got[5])
        b = await reg.get_agent("b")
        assert b is not None and (b.runtime_id, b.tags, b.capabilities) == (
            "rt-2", ["eu"], ["sql"])
        assert [m.agent_id for m in await reg.find_agents_by_capability("python")] == ["a"]
        assert (await reg.get_metrics())["total_registrations"] == 3
        with pytest.raises(InvalidArgumentError, match="at most"):
            await reg.register_agents([SimpleNamespace()] * (MAX_BATCH + 1), "rt")


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("batch", config=NodeConfig.local()).start()
    yield n
    await n.shutdown()


@pytest.mark.network
async def test_http_batch_per_item_answers_and_limits(node: GossipNode) -> None:
    url = f"http://{node.address}/v1/agents:batch"
    agents = [
        {"agent_id": "one", "capabilities": ["python code"], "check": {"ttl": 30}},
        {"agent_id": "two", "card": {"name": "Two", "skills": [{"id": "s", "name": "sql"}]}},
        {"agent_id": "one", "capabilities": ["dup"]},
        {"agent_id": "", "capabilities": ["x"]},
        {"agent_id": "odd", "colour": "blue"},
        {"agent_id": "big", "card": {"description": "x" * 9000}},
    ]
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"agents": agents}) as r:
            assert r.status == 200
            out = await r.json()
        assert (out["registered"], out["refused"]) == (2, 4)
        assert [x["status"] for x in out["results"]] == [201, 201, 409, 400, 400, 413]
        assert out["results"][2]["code"] == "already_exists"
        assert "colour" in out["results"][4]["error"]
        assert out["results"][0]["agent"]["heartbeat"]["check"]["ttl"] == 30
        two = node.get("two")
        assert two is not None and two.record.name == "Two"
        async with s.post(url, json={"agents": [{"agent_id": "x"}] * (BATCH_MAX_AGENTS + 1)}
                          ) as r:
            assert r.status == 400 and "agents must be" in (await r.json())["error"]
        big = json.dumps({"agents": [{"agent_id": "y", "description": "x" * BATCH_BODY_LIMIT}]})
        async with s.post(url, data=big, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
        ok = {"agents": [{"agent_id": f"m{i}", "capabilities": ["c"]} for i in range(1000)]}
        async with s.post(url, json=ok) as r:
            assert r.status == 200 and (await r.json())["registered"] == 1000
