"""``AgentRegistry`` (kaizen's API) with select/send/set_load and kaizen's ``route_task``
mesh-wide: endpoints on AgentMetadata from A2A 1.0, A2A 0.3 and kaizen cards; the caller's
task counters on the metadata; the four kaizen strategies by their names. Real a2a-sdk agents
on loopback, bounded waits."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from gossipreg import AgentRegistry, NodeConfig
from gossipreg.core.types import Endpoint
from gossipreg.registry import MeshOrchestrationRuntime, RoutingStrategy
from tests.a2a_agents import Agent, start_agent
from tests.support import until

pytestmark = pytest.mark.network


@pytest.fixture
async def two() -> AsyncIterator[tuple[AgentRegistry, AgentRegistry, list[Agent]]]:
    cfg = NodeConfig.local(heartbeat_timeout=None)
    a = AgentRegistry(node_config=cfg, name="ra")
    await a.start()
    b = AgentRegistry(node_config=cfg, name="rb", seeds=[a.node.address])
    await b.start()
    agents = [await start_agent("Writer"), await start_agent("Reader", version="0.3"),
              await start_agent("Kaizen")]
    try:
        yield a, b, agents
    finally:
        for ag in agents:
            await ag.kill()
        await b.shutdown()
        await a.shutdown()


async def test_endpoints_counters_and_route_task(
        two: tuple[AgentRegistry, AgentRegistry, list[Agent]]) -> None:
    a, b, (writer, reader, kz) = two
    await a.register_agent(SimpleNamespace(agent_card=writer.card(
        [("write", "Write articles", ["writing"])])), "rt-a", agent_id="writer")
    await a.register_agent(SimpleNamespace(_a2a_card=reader.card(
        [("read", "Read and review articles", ["reading"])])), "rt-a", agent_id="reader")
    kaizen_card = {"name": "KaizenAgent", "capability": "article translation",
                   "url": kz.url}
    await a.register_agent(SimpleNamespace(_a2a_card=kaizen_card), "rt-a", agent_id="kz")
    assert await until(lambda: len(b.agents) == 3)
    got = {aid: (await b.get_agent(aid)) for aid in ("writer", "reader", "kz")}
    assert got["writer"].endpoints == [Endpoint(writer.url, "JSONRPC", "1.0")]
    assert got["reader"].endpoints == [Endpoint(reader.url, "JSONRPC", "0.3.0")]
    assert got["kz"].endpoints == [Endpoint(kz.url, "JSONRPC", "")]
    assert got["kz"].agent.endpoints == got["kz"].endpoints  # the stand-in object too

    res = await b.send(agent_ids=["kz"], message="hola")
    assert res.text == "Kaizen: hola"
    runtime = MeshOrchestrationRuntime(b)
    assert (await runtime.route_task("write an article about bees")).agent_id == "writer"
    picked = Counter()
    for _ in range(6):
        m = await runtime.route_task("anything", RoutingStrategy.ROUND_ROBIN)
        picked[m.agent_id] += 1
    assert picked == {"writer": 2, "reader": 2, "kz": 2}
    assert (await runtime.route_task("x", "random")) is not None
    assert await a.set_load("writer", 9, 10)
    assert await until(lambda: b.node.read.load("writer") is not None)
    assert (await runtime.route_task("x", RoutingStrategy.LEAST_LOADED)).agent_id != "writer"
    assert await runtime.route_task("quantum chromodynamics") is None
    done = await runtime.execute_task("review this article", RoutingStrategy.SEMANTIC)
    assert done.agent_id == "reader" and done.text == "Reader: review this article"

    await writer.kill()
    res = await b.send(agent_ids=["writer", "reader"], message="x")
    assert res.agent_id == "reader"
    w = await b.get_agent("writer")
    assert (w.failed_tasks, w.error_count, w.completed_tasks, w.request_count) == (1, 1, 0, 1)
    r = await b.get_agent("reader")
    assert r.completed_tasks == 2 and r.failed_tasks == 0
    assert (await a.get_agent("writer")).failed_tasks == 0  # the caller's view, not gossiped
