"""``gossipreg events`` against a real node on 127.0.0.1 (port 0): details, ``--types``,
``--since`` (resume, and a reset for an unknown id). Bounded waits."""

from __future__ import annotations

import asyncio
import sys

import pytest

from gossipreg import AgentStatus, GossipNode, NodeConfig

pytestmark = pytest.mark.network


async def cli(*args: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gossipreg.cli.app", "events", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20.0)
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_events_command_details_types_and_since() -> None:
    node = await GossipNode("cli", config=NodeConfig.local(heartbeat_timeout=None)).start()
    try:
        await node.register(agent_id="a1", name="A", runtime_id="rt", capabilities=["python"])
        start = node.position
        await node.set_status("a1", AgentStatus.DEGRADED, "slow disk")
        assert await node.deregister("a1")
        lines = await cli("--node", node.address, "--since", start, "--count", "3")
        assert "AGENT_STATUS_CHANGED" in lines[0]
        assert 'active -> degraded (status_write: "slow disk" by cli)' in lines[0]
        assert "AGENT_DEREGISTERED" in lines[1] and "(deregistered)" in lines[1]
        assert "RUNTIME_LEFT" in lines[2]
        assert lines[0].split()[1] == f"{node.ring.stream_id}-{int(start.rsplit('-')[1]) + 1}"
        only = await cli("--node", node.address, "--since", start, "--count", "1",
                         "--types", "agent_deregistered")
        assert len(only) == 1 and "AGENT_DEREGISTERED" in only[0]
        reset = await cli("--node", node.address, "--since", "gone-7", "--count", "1")
        assert "RESET" in reset[0] and "list again" in reset[0]
    finally:
        await node.shutdown()
