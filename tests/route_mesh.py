"""A 3-node loopback mesh with three real a2a-sdk agents, one registered on each node: the
setting of the select/send acceptance tests (Python, HTTP, CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from tests.a2a_agents import Agent, start_agent
from tests.support import until

COMMON = ("assist", "General assistance", ["helper"])
SKILLS = {
    "summarizer": [("summarize", "Summarize long documents into short abstracts",
                    ["summary", "documents"]), COMMON],
    "translator": [("translate", "Translate text between English and French",
                    ["translation", "french"]), COMMON],
    "coder": [("code", "Write and review Python code", ["python", "code"]), COMMON],
}


@dataclass
class Mesh:
    nodes: list[GossipNode]
    agents: dict[str, Agent]

    @property
    def caller(self) -> GossipNode:
        """The node every test sends from (it hosts the coder)."""
        return self.nodes[2]

    def served(self) -> dict[str, int]:
        return {n: len(a.served) for n, a in self.agents.items()}


async def route_mesh(token: str | None = None) -> AsyncIterator[Mesh]:
    cfg = NodeConfig.local(heartbeat_timeout=None)
    nodes: list[GossipNode] = []
    agents: dict[str, Agent] = {}
    try:
        for i in range(3):
            seeds = [nodes[0].address] if nodes else []
            nodes.append(await GossipNode(f"n{i}", config=cfg, seeds=seeds, token=token).start())
        assert await until(lambda: all(
            sum(m.state is MemberState.ALIVE for m in n.members()) == 3 for n in nodes))
        for node, (name, skills) in zip(nodes, SKILLS.items(), strict=True):
            agents[name] = a = await start_agent(name.capitalize())
            await node.register(agent_id=name, name=name.capitalize(), card=a.card(skills))
        assert await until(lambda: all(n.get(a) is not None for n in nodes for a in SKILLS))
        yield Mesh(nodes, agents)
    finally:
        for a in agents.values():
            await a.kill()
        for n in reversed(nodes):
            await n.shutdown()
