"""A node with a data directory remembers the agents it owns (gossipreg/io/persist.py): kept in
agents.json on every change, restored under its new generation, without churn on its peers;
a bad file refuses the start; without a data directory a restart forgets them, as before."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest

from gossipreg import AgentStatus, GossipNode, NodeConfig, RegistryEventType
from gossipreg.core.types import RegistryEvent
from gossipreg.io.datadir import DataDirError
from tests.support import free_port, until

pytestmark = pytest.mark.network

E = RegistryEventType
CARD = {"name": "FX desk", "description": "Foreign exchange quotes", "version": "1.0.0",
        "skills": [{"id": "fx", "name": "Currency conversion", "description": "Convert",
                    "tags": ["finance"], "examples": ["convert 100 dollars to yen"]}]}


def cfg(data_dir: Path | None, **knobs: float | None) -> NodeConfig:
    return NodeConfig.local(data_dir=None if data_dir is None else str(data_dir), **knobs)


async def post(node: GossipNode, body: dict[str, object]) -> int:
    async with aiohttp.ClientSession() as s, s.post(f"http://{node.address}/v1/agents",
                                                     json=body) as r:
        return r.status


async def test_agents_checks_and_statuses_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    node = await GossipNode("c", bind=f"127.0.0.1:{port}", config=cfg(tmp_path)).start()
    await node.register(agent_id="fx", runtime_id="rt", card=CARD)
    await node.register(agent_id="py", name="Py", runtime_id="rt", capabilities=["python"],
                        tags=["code"])
    await node.set_status("py", "degraded", "slow disk")
    assert await post(node, {"agent_id": "web", "capabilities": ["http"],
                             "check": {"ttl": 600}}) == 201
    await node.register(agent_id="gone", name="G", runtime_id="rt", capabilities=["x"])
    assert await node.deregister("gone")
    before = {a: node.get(a) for a in ("fx", "py", "web")}
    await node.shutdown()  # a crash as far as the file goes: no leave was needed to keep it
    doc = json.loads((tmp_path / "agents.json").read_text())
    assert (doc["format"], doc["cluster"], doc["node"]) == (1, "gossipreg", "c")
    assert sorted(a["record"]["agent_id"] for a in doc["agents"]) == ["fx", "py", "web"]
    again = await GossipNode("c", bind=f"127.0.0.1:{port}", config=cfg(tmp_path)).start()
    try:
        for aid, old in before.items():
            v = again.get(aid)
            assert v is not None and old is not None and v.record == old.record, aid
        assert again.get("py").status is AgentStatus.DEGRADED  # type: ignore[union-attr]
        assert again.get("gone") is None
        assert again.checks.specs["web"].ttl == 600
        assert set(again.core.read.own_agents()) == {"fx", "py", "web"}
    finally:
        await again.shutdown()


async def test_a_restored_agent_gets_a_fresh_heartbeat_deadline(tmp_path: Path) -> None:
    port = free_port()
    knobs = {"heartbeat_timeout": 0.6, "auto_deregister_timeout": 60.0}
    node = await GossipNode("c", bind=f"127.0.0.1:{port}", config=cfg(tmp_path, **knobs)).start()
    await node.register(agent_id="x", name="X", runtime_id="rt", capabilities=["c"])
    assert await until(lambda: node.get("x").status is AgentStatus.UNHEALTHY, 5.0)  # type: ignore[union-attr]
    await node.shutdown()
    again = await GossipNode("c", bind=f"127.0.0.1:{port}",
                             config=cfg(tmp_path, **knobs)).start()
    try:
        started = time.monotonic()
        assert again.get("x").status is AgentStatus.ACTIVE  # type: ignore[union-attr]
        assert await until(lambda: again.get("x").status  # type: ignore[union-attr]
                           is AgentStatus.UNHEALTHY, 5.0)
        assert time.monotonic() - started >= 0.5  # judged from the restart, not from before
    finally:
        await again.shutdown()


async def test_a_restart_brings_the_agents_back_on_peers_without_churn(tmp_path: Path) -> None:
    seen: list[RegistryEvent] = []
    port = free_port()
    async with GossipNode("a", config=cfg(None)) as a:
        a.add_listener(seen.append)
        c = await GossipNode("c", bind=f"127.0.0.1:{port}", seeds=[a.address],
                             config=cfg(tmp_path)).start()
        await c.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
        await c.heartbeat("x")
        assert await until(lambda: (v := a.get("x")) is not None and v.heartbeat_count == 1, 5.0)
        mark = len(seen)
        await c.shutdown()  # gone without a word: a crash to its peers
        c = await GossipNode("c", bind=f"127.0.0.1:{port}", seeds=[a.address],
                             config=cfg(tmp_path)).start()
        try:
            assert await c.wait_joined()
            # The new generation's state is in (no heartbeat of it yet), and x never left.
            assert await until(lambda: (v := a.get("x")) is not None
                               and v.heartbeat_count == 0 and v.status is AgentStatus.ACTIVE,
                               3.0)
            kinds = [e.event_type for e in seen[mark:] if e.agent_id == "x"]
            assert E.AGENT_DEREGISTERED not in kinds and E.AGENT_REGISTERED not in kinds, kinds
        finally:
            await c.shutdown()


async def test_without_a_data_dir_a_restart_forgets_the_agents_as_before() -> None:
    port = free_port()
    async with GossipNode("a", config=cfg(None)) as a:
        c = await GossipNode("c", bind=f"127.0.0.1:{port}", seeds=[a.address],
                             config=cfg(None)).start()
        await c.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
        assert await until(lambda: a.get("x") is not None, 5.0)
        await c.shutdown()
        c = await GossipNode("c", bind=f"127.0.0.1:{port}", seeds=[a.address],
                             config=cfg(None)).start()
        try:
            assert c.store is None and c.get("x") is None
            assert await until(lambda: a.get("x") is None, 5.0)
        finally:
            await c.shutdown()


async def test_changes_are_written_in_batches(tmp_path: Path) -> None:
    async with GossipNode("c", config=cfg(tmp_path)) as node:
        for i in range(50):
            await node.register(agent_id=f"a{i}", name="A", runtime_id="rt", capabilities=["c"])
        assert node.store is not None
        assert await until(lambda: node.store is not None and node.store.writes >= 1, 5.0)
        assert await until(lambda: len(json.loads(
            (tmp_path / "agents.json").read_text())["agents"]) == 50, 5.0)
        assert node.store.writes <= 3
        writes = node.store.writes
        await node.heartbeat("a1")
        await node.heartbeat("a2")
    assert node.store.writes == writes  # heartbeats are not kept


@pytest.mark.parametrize(("content", "why"), [
    ('{"format": 1, "cluster": "gossipreg", "node": "c", "agents": [', "not valid JSON"),
    ('{"format": 2, "cluster": "gossipreg", "node": "c", "agents": []}', "format 2 is not"),
    ('{"format": 1, "cluster": "gossipreg", "node": "b", "agents": []}',
     "holds the agents of node 'b' of cluster 'gossipreg', not of 'c'"),
    ('{"format": 1, "cluster": "other", "node": "c", "agents": []}', "of cluster 'other'"),
    ('{"format": 1, "cluster": "gossipreg", "node": "c", "agents": [{"record": {"agent_id": '
     '"ok", "runtime_id": "rt"}}, {"record": {"agent_id": "", "runtime_id": "rt"}}]}',
     "agent #2 is not valid"),
])
async def test_a_bad_file_refuses_the_start_and_is_never_half_loaded(
        tmp_path: Path, content: str, why: str) -> None:
    (tmp_path / "FORMAT").write_text("gossipreg-data 1\n")
    (tmp_path / "agents.json").write_text(content)
    node = GossipNode("c", config=cfg(tmp_path))
    with pytest.raises(DataDirError, match=rf"^{tmp_path}/agents\.json: .*{why}"):
        await node.start()
    assert not node.running
    await node.shutdown()
    assert (tmp_path / "agents.json").read_text() == content  # left as it was
