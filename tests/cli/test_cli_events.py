"""``gossipreg events`` against a real node on 127.0.0.1 (port 0): details, ``--types``,
``--since`` (resume, and a reset for an unknown id); a node's restart is followed (reconnect,
resume with Last-Event-ID, a reset first). Bounded waits."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from gossipreg import AgentStatus, GossipNode, NodeConfig
from tests.support import PipeLines, http_json, until_blocking

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


def test_events_follow_a_node_through_its_restart() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{s.getsockname()[1]}"
    node_cmd = [sys.executable, "-m", "gossipreg", "node", "--name", "e", "--bind", addr,
                "--profile", "local"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(node_cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def register(aid: str) -> bool:
        http_json(f"http://{addr}/v1/agents", {"agent_id": aid})
        return True

    node = start()
    assert until_blocking(lambda: register("before"), 10)
    events = subprocess.Popen([sys.executable, "-m", "gossipreg", "events", "--node", addr],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = PipeLines(events.stdout), PipeLines(events.stderr)
    try:
        n = iter(range(1000))

        def connected() -> bool:  # once it shows a registration made after it started
            if out.having("AGENT_REGISTERED"):
                return True
            register(f"before-{next(n)}")
            return until_blocking(lambda: bool(out.having("AGENT_REGISTERED")), 0.3)

        assert until_blocking(connected, 15), (out.lines, err.lines)
        node.kill()
        node.wait(5)
        assert until_blocking(lambda: bool(err.having(f"gossipreg: lost {addr}")), 10)
        node = start()
        # Back with a new stream: the resumed position is unknown there, so a reset first.
        assert until_blocking(lambda: bool(out.having("RESET")), 15), (out.lines, err.lines)
        assert until_blocking(lambda: register("after"), 10)
        assert until_blocking(lambda: bool(out.having(" after ")), 10), out.lines
        reset = out.having("RESET")
        assert len(reset) == 1 and "(other_stream)" in reset[0]  # resumed with Last-Event-ID
        assert err.having(f"gossipreg: reconnected to {addr}") and events.poll() is None
        assert len(err.having("lost")) == 1, err.lines  # said once
    finally:
        for p in (events, node):
            p.kill()
            p.wait(5)
