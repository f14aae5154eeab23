"""Each gossip path end to end on a 3-node loopback mesh (join, propagate, kill, leave): UDP
datagrams with WebSocket links, links alone, HTTP POST alone; and a mesh where one node of
this release offers neither new path: the others use them between themselves and HTTP POST
with it. Bounded waits; nothing here asserts a timing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from gossipreg.core.wire.tags import FEATURES, Feature
from gossipreg.io.net.links_transport import LinkTransport
from tests.support import until

pytestmark = pytest.mark.network

CFG = NodeConfig.local(heartbeat_timeout=None)
MODES: dict[str, dict[str, bool]] = {
    "datagrams+links": {},
    "links": {"datagrams": False},
    "http": {"datagrams": False, "links": False},
}
# Named nodes on the network sign, and a new cluster requires signatures (every node here).
SIGNING = FEATURES | Feature.REQUIRES_SIGNATURES
ANNOUNCED = {"datagrams+links": SIGNING | Feature.DATAGRAM | Feature.STREAM,
             "links": SIGNING | Feature.STREAM, "http": SIGNING}


def states(node: GossipNode) -> dict[str, MemberState]:
    return {m.node_id: m.state for m in node.members()}


def paths_used(nodes: Sequence[GossipNode]) -> set[str]:
    used: set[str] = set()
    for n in nodes:
        assert isinstance(n.transport, LinkTransport)
        used |= {p for p, k in n.transport.frames_by_path.items() if k}
    return used


async def mesh(kinds: Sequence[dict[str, Any]]) -> list[GossipNode]:
    first = await GossipNode("n0", config=CFG, **kinds[0]).start()
    nodes = [first]
    for i, kind in enumerate(kinds[1:], 1):
        nodes.append(await GossipNode(f"n{i}", config=CFG, seeds=[first.address],
                                      **kind).start())
    return nodes


@pytest.fixture
async def closing() -> AsyncIterator[list[GossipNode]]:
    nodes: list[GossipNode] = []
    yield nodes
    for n in nodes:
        await n.shutdown()


async def join_propagate_kill_leave(nodes: list[GossipNode]) -> None:
    names = {n.name for n in nodes}
    assert await until(lambda: all(
        {k for k, s in states(n).items() if s is MemberState.ALIVE} == names for n in nodes),
        10.0), [states(n) for n in nodes]
    # A small write (fits a datagram) and a large one (an 7 KB record: a stream's).
    await nodes[0].register(agent_id="small", capabilities=["python"])
    await nodes[1].register(agent_id="large", capabilities=["python"], description="x" * 7000)
    assert await until(lambda: all(n.get("small") and n.get("large") for n in nodes), 10.0)
    # Killed without a word: the others find it DEAD.
    await nodes[2].shutdown()
    assert await until(lambda: all(states(n)["n2"] is MemberState.DEAD for n in nodes[:2]),
                       15.0), [states(n) for n in nodes[:2]]
    # A graceful leave: LEFT.
    await nodes[1].leave()
    await nodes[1].shutdown()
    assert await until(lambda: states(nodes[0])["n1"] is MemberState.LEFT, 10.0)


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_three_node_mesh_over_each_path(mode: str,
                                                closing: list[GossipNode]) -> None:
    closing += await mesh([MODES[mode]] * 3)
    nodes = closing
    await join_propagate_kill_leave(nodes)
    assert all(m.features == ANNOUNCED[mode] for m in nodes[0].members())
    used = paths_used(nodes)
    if mode == "datagrams+links":
        assert {"datagram", "stream"} <= used, used
    elif mode == "links":
        assert "stream" in used and "datagram" not in used, used
    else:
        assert used == {"http"}, used


async def test_a_node_without_the_new_paths_is_spoken_to_over_http(
        closing: list[GossipNode]) -> None:
    closing += await mesh([{}, {}, {"datagrams": False, "links": False}])
    nodes = closing
    old = nodes[2]
    names = {n.name for n in nodes}
    assert await until(lambda: all(
        {k for k, s in states(n).items() if s is MemberState.ALIVE} == names for n in nodes),
        10.0), [states(n) for n in nodes]
    await old.register(agent_id="from-old", capabilities=["sql"])
    await nodes[0].register(agent_id="to-old", capabilities=["sql"], description="y" * 5000)
    assert await until(lambda: all(n.get("from-old") and n.get("to-old") for n in nodes), 10.0)
    assert paths_used([old]) == {"http"}
    # The new nodes use datagrams between themselves, and only HTTP POST towards the old one.
    assert "datagram" in paths_used(nodes[:2])
    for n in nodes[:2]:
        assert isinstance(n.transport, LinkTransport)
        assert n.transport.peer_features is not None
        assert n.transport.peer_features(old.address) == SIGNING
    await old.shutdown()
    assert await until(lambda: all(states(n)["n2"] is MemberState.DEAD for n in nodes[:2]),
                       15.0)
