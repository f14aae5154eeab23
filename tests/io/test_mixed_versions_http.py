"""A previous-release node (``python -m gossipreg_prev.cli node``, a real process; see
``tests.prev_release``) and a node of this release (in process) over real HTTP on 127.0.0.1:
they join, each lists the other ALIVE and both agents registered through the HTTP API, and a
status written on each reaches the other. The old node counts FEATURES as ``unknown_type``
and drops nothing else. Bounded waits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from tests.support import free_port, until_awaited

pytestmark = pytest.mark.network


@pytest.fixture
def old_node(prev_release_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The previous release's ``gossipreg node`` on a free port; its address."""
    addr = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSSIPREG_")}
    env["PYTHONPATH"] = str(prev_release_dir)
    with (tmp_path / "old.stderr").open("w") as err:
        p = subprocess.Popen(
            [sys.executable, "-m", "gossipreg_prev.cli", "node", "--name", "old", "--bind",
             addr, "--profile", "local"],
            stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True, env=env)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert "listening on" in line, (line, (tmp_path / "old.stderr").read_text())
        yield addr
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)
        if p.stdout is not None:
            p.stdout.close()


@pytest.fixture
async def new_node(old_node: str) -> AsyncIterator[GossipNode]:
    node = GossipNode("new", config=NodeConfig.local(heartbeat_timeout=None),
                      seeds=[old_node])
    await node.start()
    yield node
    await node.shutdown()


class Api:
    """JSON over HTTP to either node (aiohttp: the new node serves on this event loop)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.seen: dict[str, Any] = {}

    async def call(self, method: str, addr: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, f"http://{addr}{path}", json=body) as r:
            assert r.status < 300, (method, addr, path, r.status, await r.text())
            return await r.json() if r.content_type == "application/json" else await r.text()

    async def refresh(self, *addrs: str) -> None:
        """Read both nodes' members and agents into ``seen`` (for the waits' predicates)."""
        for a in addrs:
            self.seen[a] = (
                {m["node_id"]: m["state"] for m in await self.call("GET", a, "/v1/members")},
                {v["agent_id"]: v["status"]
                 for v in await self.call("GET", a, "/v1/agents?status=any")})


def dropped(metrics_text: str) -> dict[str, float]:
    """The non-zero ``packets_dropped_total`` counters of a /metrics page, by reason."""
    out = {}
    for reason, value in re.findall(
            r'^gossipreg_packets_dropped_total\{reason="([^"]+)"\} (\S+)$', metrics_text, re.M):
        if float(value):
            out[reason] = float(value)
    return out


async def test_old_and_new_nodes_over_http(old_node: str, new_node: GossipNode) -> None:
    old, new = old_node, new_node.address
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        api = Api(session)

        async def both_see(members: dict[str, str], agents: dict[str, str],
                           within: float) -> bool:
            async def check() -> bool:
                await api.refresh(old, new)
                return bool(api.seen[old] == api.seen[new] == (members, agents))

            return await until_awaited(check, within)

        alive = {"old": "alive", "new": "alive"}
        assert await both_see(alive, {}, 8.0), api.seen

        await api.call("POST", old, "/v1/agents", {
            "agent_id": "a-old", "name": "Old agent", "runtime_id": "rt-old",
            "capabilities": ["python"]})
        await api.call("POST", new, "/v1/agents", {
            "agent_id": "a-new", "name": "New agent", "runtime_id": "rt-new",
            "capabilities": ["sql"]})
        assert await both_see(alive, {"a-old": "active", "a-new": "active"}, 5.0), api.seen

        # A status written on each node, each about the other release's agent.
        await api.call("PUT", old, "/v1/agents/a-new/status", {"status": "degraded"})
        await api.call("PUT", new, "/v1/agents/a-old/status", {"status": "unhealthy"})
        assert await both_see(alive, {"a-old": "unhealthy", "a-new": "degraded"}, 5.0), api.seen

        # The new node holds no features for the old one; the old node dropped the FEATURES
        # it was sent as an unknown kind, and nothing else; the new node dropped nothing.
        assert {m.node_id: m.features for m in new_node.members()}["old"] == 0
        old_drops = dropped(await api.call("GET", old, "/metrics"))
        assert set(old_drops) == {"unknown_type"}, old_drops
        assert dropped(await api.call("GET", new, "/metrics")) == {}
