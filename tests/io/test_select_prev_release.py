"""A previous-release node (a real process, ``tests.prev_release``) in a mesh with a node of
this release: an A2A agent registered on the old node is selectable and reachable from the new
one, and load published by the new node (a key family the old release does not know, never
sent to it) leaves the old node working. Bounded waits."""

from __future__ import annotations

import aiohttp
import pytest

from gossipreg import GossipNode
from gossipreg.core.types import AgentLoad, MemberState
from tests.a2a_agents import start_agent
from tests.io.test_mixed_versions_http import free_port, new_node, old_node  # noqa: F401
from tests.support import until, until_awaited

pytestmark = pytest.mark.network


async def test_an_old_nodes_agent_is_selectable_and_reachable(old_node: str,  # noqa: F811
                                                               new_node: GossipNode  # noqa: F811
                                                               ) -> None:
    agent = await start_agent("Oldtimer")
    mine = await start_agent("Newcomer")
    try:
        assert await until(lambda: sum(m.state is MemberState.ALIVE
                                       for m in new_node.members()) == 2, 15)
        card = agent.card([("history", "Answer history questions", ["history"])])
        async with aiohttp.ClientSession() as s, s.post(f"http://{old_node}/v1/agents",
                          json={"agent_id": "oldtimer", "card": card}) as r:
            assert r.status == 201, await r.text()
        assert await until(lambda: new_node.get("oldtimer") is not None, 15)
        got = new_node.select("history questions")
        assert got[0].agent_id == "oldtimer" and got[0].node_id == "old"
        res = await new_node.send("history questions", message="Who built Rome?")
        assert res.agent_id == "oldtimer" and res.text == "Oldtimer: Who built Rome?"

        await new_node.register(agent_id="newcomer", card=mine.card(
            [("geo", "Geography answers", ["geography"])]))
        assert await new_node.set_load("newcomer", 3, 4)
        assert new_node.read.load("newcomer") == AgentLoad(3, 4)

        async def old_sees_newcomer() -> bool:
            async with aiohttp.ClientSession() as s, \
                    s.get(f"http://{old_node}/v1/agents/newcomer") as r:
                return r.status == 200
        assert await until_awaited(old_sees_newcomer, 15)
        res = await new_node.send(agent_ids=["newcomer", "oldtimer"], message="Capital?")
        assert res.agent_id == "newcomer"
    finally:
        await agent.kill()
        await mine.kill()
