"""A previous-release node (a real process, HTTP POST only, announcing no features) in a mesh
with two nodes of this release: the new nodes talk datagrams and links between themselves and
HTTP POST with the old one; writes from either release reach every node, and a kill of a new
node is seen by the old one. The old node drops only the FEATURES it does not know."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.wire.tags import Feature
from gossipreg.io.net.links_transport import LinkTransport
from tests.io.test_mixed_versions_http import Api, dropped, old_node
from tests.support import until, until_awaited

pytestmark = pytest.mark.network
__all__ = ["old_node"]  # the fixture, imported for its use here

CFG = NodeConfig.local(heartbeat_timeout=None)


@pytest.fixture
async def new_nodes(old_node: str) -> AsyncIterator[list[GossipNode]]:
    nodes = [await GossipNode(f"new{i}", config=CFG, seeds=[old_node]).start()
             for i in range(2)]
    yield nodes
    for n in nodes:
        await n.shutdown()


async def test_a_previous_release_in_a_mesh_of_new_nodes(old_node: str,
                                                         new_nodes: list[GossipNode]) -> None:
    old = old_node
    addrs = [old, *(n.address for n in new_nodes)]
    names = {"old", "new0", "new1"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        api = Api(session)

        async def converged(agents: dict[str, str], alive: set[str]) -> bool:
            """Every running node sees ``alive`` ALIVE, the others DEAD, and ``agents``."""
            running = addrs[:len(alive)]

            async def check() -> bool:
                await api.refresh(*running)
                return all(api.seen[a] == ({k: "alive" for k in alive}
                                           | {k: "dead" for k in names - alive}, agents)
                           for a in running)
            return await until_awaited(check, 15.0)

        assert await converged({}, names), api.seen
        # The new nodes learn each other's paths from their first probe of each other (the
        # old node, a relay that drops FEATURES, cannot tell them).
        a, b = new_nodes
        assert await until(lambda: all(
            x.read.features_at(y.address) & Feature.DATAGRAM for x, y in ((a, b), (b, a))))
        await api.call("POST", old, "/v1/agents", {
            "agent_id": "a-old", "name": "Old", "runtime_id": "rt", "capabilities": ["x"]})
        await new_nodes[0].register(agent_id="a-new", capabilities=["y"], description="z" * 5000)
        both = {"a-old": "active", "a-new": "active"}
        assert await converged(both, names), api.seen

        used = [n.transport.frames_by_path for n in new_nodes
                if isinstance(n.transport, LinkTransport)]
        assert len(used) == 2
        assert await until(lambda: all(u["datagram"] for u in used)), used
        for n in new_nodes:
            assert isinstance(n.transport, LinkTransport) and n.transport.peer_features
            assert n.transport.peer_features(old) == 0  # announced nothing: HTTP POST only

        await new_nodes[1].shutdown()  # killed: the old node and the other new one see it
        assert await converged(both, {"old", "new0"}), api.seen
        assert set(dropped(await api.call("GET", old, "/metrics"))) <= {"unknown_type"}
        assert await until(lambda: new_nodes[0].read.metrics().packets_in > 0)
