"""Parity and lifecycle: the Python API refuses what the CLI and HTTP refuse, with
the same words, and an AgentRegistry starts again cleanly after shutdown()."""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest

from gossipreg import AgentRegistry, GossipNode, InvalidArgumentError, NodeConfig
from gossipreg.cli.app import main

pytestmark = pytest.mark.network

CAPS_MESSAGE = "capabilities must be a list of strings"


async def test_a_string_of_capabilities_is_refused_like_http() -> None:
    reg = AgentRegistry()
    await reg.start()
    try:
        with pytest.raises(InvalidArgumentError, match=CAPS_MESSAGE):
            await reg.register_agent(SimpleNamespace(name="x"), "rt", capabilities="python")
        assert reg.agents == {}
    finally:
        await reg.shutdown()
    node = await GossipNode("n", config=NodeConfig.local()).start()
    try:
        async with aiohttp.ClientSession() as s, s.post(
                f"http://{node.address}/v1/agents",
                json={"agent_id": "a", "capabilities": "python"}) as r:
            assert r.status == 400 and CAPS_MESSAGE in (await r.json())["error"]
    finally:
        await node.shutdown()


def test_a_seed_string_is_refused() -> None:
    with pytest.raises(InvalidArgumentError,
                       match=r"seeds must be a list of host:port addresses, not a string"):
        AgentRegistry(node_config=NodeConfig.local(), seeds="127.0.0.1:17001")  # type: ignore[arg-type]


def test_a_malformed_seed_reads_the_same_from_python_and_cli(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        GossipNode("a", seeds=["10.0.0.5"])
    message = str(err.value)
    assert message == "bad address '10.0.0.5': expected host:port (IPv6 as [addr]:port)"
    with pytest.raises(InvalidArgumentError, match="port is not a number"):
        AgentRegistry(node_config=NodeConfig.local(), seeds=["h:x"])
    assert main(["node", "--name", "a", "--join", "10.0.0.5"]) == 2
    assert message in capsys.readouterr().err


async def test_an_embedded_registry_starts_again_cleanly_after_shutdown() -> None:
    reg = AgentRegistry()
    await reg.start()
    aid = await reg.register_agent(SimpleNamespace(name="x"), "rt", capabilities=["python"])
    first = reg.node
    await reg.shutdown()
    assert first.closed and not reg._running
    assert reg.agents == {} and reg.capability_index == {}
    # Any call brings up a fresh node with nothing registered, as a new registry would.
    assert await reg.get_agent(aid) is None
    await reg.start()
    assert reg._running and reg.node is not first and reg.node.running
    assert await reg.register_agent(SimpleNamespace(name="x"), "rt", agent_id=aid,
                                    capabilities=["python"]) == aid
    assert [m.agent_id for m in await reg.find_agents_by_capability("python")] == [aid]
    await reg.shutdown()


async def test_a_mesh_registry_rejoins_after_shutdown() -> None:
    seed = await GossipNode("seed", config=NodeConfig.local()).start()
    reg = AgentRegistry(node_config=NodeConfig.local(), seeds=[seed.address], name="r1")
    try:
        await reg.start(wait_joined=5.0)
        gen = reg.node.core.generation
        await reg.shutdown()
        await reg.start(wait_joined=5.0)
        assert reg.node.core.generation != gen
        assert await seed.wait_for(lambda: any(
            m.node_id == "r1" and m.generation == reg.node.core.generation
            and m.state == 0 for m in seed.members()), 5.0)
    finally:
        await reg.shutdown()
        await seed.shutdown()


async def test_a_closed_node_refuses_to_start() -> None:
    node = await GossipNode("n", config=NodeConfig.local()).start()
    await node.shutdown()
    with pytest.raises(RuntimeError, match="shut down; create a new GossipNode"):
        await node.start()
