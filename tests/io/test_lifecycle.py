"""Lifecycle: leaving a context manager is a graceful leave; a registry's start waits for its
join (bounded), keeps trying in the background when no seed answered, and raises only when a
seed refused it or the caller required the join; ``wait_joined`` has a default and nothing is
left unclosed."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import textwrap

import pytest

from gossipreg import (
    AgentRegistry,
    GossipNode,
    JoinError,
    NodeConfig,
    RegistryEventType,
)
from gossipreg.core.types import RegistryEvent
from tests.support import until

pytestmark = pytest.mark.network

CFG = NodeConfig.local(heartbeat_timeout=None)
E = RegistryEventType


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def about(events: list[RegistryEvent], node: str) -> list[RegistryEventType]:
    return [e.event_type for e in events if e.metadata.get("node_id") == node
            and e.event_type.value.startswith("member_")]


async def test_leaving_a_gossip_node_block_is_a_graceful_leave() -> None:
    seen: list[RegistryEvent] = []
    async with GossipNode("watcher", config=CFG) as watcher:
        watcher.add_listener(seen.append)
        async with GossipNode("a", config=CFG, seeds=[watcher.address]) as a:
            await a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
            assert await until(lambda: watcher.get("x") is not None, 5.0)
        # Its agents leave at once: well before any failure detection could have run.
        assert await until(lambda: watcher.get("x") is None, 2.0)
        assert about(seen, "a") == [E.MEMBER_JOINED, E.MEMBER_LEFT]
        [gone] = [e for e in seen if e.event_type is E.AGENT_DEREGISTERED]
        assert gone.metadata["cause"] == "owner_left"
        assert a.closed


async def test_an_agent_registry_is_a_context_manager_that_leaves_gracefully() -> None:
    seen: list[RegistryEvent] = []
    async with GossipNode("watcher", config=CFG) as watcher:
        watcher.add_listener(seen.append)
        async with AgentRegistry(node_config=CFG, name="reg", seeds=[watcher.address]) as reg:
            # start() waited for the join: the mesh is there as soon as the block begins.
            assert reg.node.core.joined
            aid = await reg.register_agent(object(), "rt", agent_id="x", capabilities=["go"])
            assert await until(lambda: watcher.get(aid) is not None, 5.0)
        assert await until(lambda: watcher.get("x") is None, 2.0)
        assert about(seen, "reg") == [E.MEMBER_JOINED, E.MEMBER_LEFT]
        assert not reg.node.running


async def test_start_waits_for_the_join_so_a_first_query_sees_the_mesh() -> None:
    async with GossipNode("seed", config=CFG) as seed:
        await seed.register(agent_id="s1", name="S", runtime_id="rt", capabilities=["python"])
        reg = AgentRegistry(node_config=CFG, seeds=[seed.address])
        await reg.start()
        try:
            assert [m.agent_id for m in await reg.find_agents_by_capability("python")] == ["s1"]
        finally:
            await reg.shutdown()


async def test_no_seed_answering_is_a_warning_naming_each_seed_and_joining_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    port, other = closed_port(), closed_port()
    seeds = [f"127.0.0.1:{port}", f"127.0.0.1:{other}"]
    reg = AgentRegistry(node_config=CFG, seeds=seeds)
    try:
        with caplog.at_level(logging.WARNING, logger="gossipreg.registry"):
            await reg.start(wait_joined=0.5)
        [line] = [r.getMessage() for r in caplog.records if r.name == "gossipreg.registry"]
        assert "not joined within 0.5 s, still trying in the background" in line
        assert f"{seeds[0]}: " in line and f"{seeds[1]}: " in line
        assert reg.node.running and not reg.node.core.joined
        # The first node of the mesh comes up later: the registry joins it by itself.
        async with GossipNode("late", bind=seeds[0], config=CFG):
            assert await reg.wait_joined(10.0)
    finally:
        await reg.shutdown()


async def test_a_seed_list_that_names_the_node_itself_starts_at_once() -> None:
    port = closed_port()
    me = f"127.0.0.1:{port}"
    reg = AgentRegistry(node_config=CFG, bind=me, seeds=[me])
    try:
        await asyncio.wait_for(reg.start(wait_joined=60.0), 10.0)
        assert reg.node.core.joined
        assert await reg.wait_joined()
    finally:
        await reg.shutdown()


async def test_a_seed_that_refuses_raises_join_error_at_once() -> None:
    async with GossipNode("seed", config=NodeConfig.local(cluster="other")) as seed:
        reg = AgentRegistry(node_config=CFG, seeds=[seed.address])
        with pytest.raises(JoinError, match=r"join refused: .*another cluster"):
            await asyncio.wait_for(reg.start(wait_joined=60.0), 10.0)
        assert not reg.node.running


async def test_a_taken_name_raises_join_error() -> None:
    async with GossipNode("seed", config=CFG) as seed, \
            GossipNode("b", config=CFG, seeds=[seed.address]) as b:
        assert await b.wait_joined()
        reg = AgentRegistry(node_config=CFG, name="b", seeds=[seed.address])
        with pytest.raises(JoinError, match=r"join refused: node name 'b' is already used"):
            await asyncio.wait_for(reg.start(wait_joined=60.0), 10.0)


SCRIPT = """
import asyncio
from gossipreg import AgentRegistry, GossipNode, NodeConfig

SEED = "127.0.0.1:{port}"

async def main() -> None:
    async with GossipNode("a", seeds=[SEED], config=NodeConfig.local()) as node:
        print("joined:", await node.wait_joined())
    registry = AgentRegistry(node_config=NodeConfig.local(), seeds=[SEED])
    await registry.start(wait_joined=0.2)
    print("joined:", await registry.wait_joined(0.2))
    raise SystemExit("a program that ends without shutdown()")

asyncio.run(main())
"""


def test_wait_joined_has_a_default_and_nothing_is_left_unclosed() -> None:
    script = textwrap.dedent(SCRIPT).format(port=closed_port())
    p = subprocess.run([sys.executable, "-X", "dev", "-c", script], capture_output=True,
                       text=True, timeout=60)
    assert p.stdout.splitlines() == ["joined: False", "joined: False"], p.stderr
    assert "a program that ends without shutdown()" in p.stderr
    assert "Unclosed" not in p.stderr and "was destroyed" not in p.stderr, p.stderr
