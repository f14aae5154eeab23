"""Checks for agents registered over HTTP: an HTTP check turns an agent UNHEALTHY when
its endpoint stops answering and ACTIVE when it answers again (causes check_failed /
check_passed); a TTL check does the same for heartbeats; without a check the 201 answer says
heartbeats are required and how often."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gossipreg import GossipNode, InvalidArgumentError, NodeConfig
from gossipreg.core.types import AgentStatus, RegistryEventType
from gossipreg.io.checks import parse_check

pytestmark = pytest.mark.network


class Endpoint:
    """The agent's own health endpoint, which can stop and come back on the same port."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._ok)
        self.runner = web.AppRunner(app)
        self.port = 0

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def start(self) -> None:
        if self.runner.server is None:
            await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for site in list(self.runner.sites):
            await site.stop()


async def register(node: GossipNode, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, \
            s.post(f"http://{node.address}/v1/agents", json=body) as r:
        return r.status, await r.json()


def causes(events: list[Any], agent: str) -> list[str]:
    return [e.metadata.get("cause") for e in events
            if e.event_type is RegistryEventType.AGENT_STATUS_CHANGED and e.agent_id == agent]


async def test_an_http_check_follows_its_endpoint() -> None:
    ep = Endpoint()
    await ep.start()
    node = await GossipNode("owner", config=NodeConfig.local()).start()
    events: list[Any] = []
    node.add_listener(events.append)
    try:
        url = f"http://127.0.0.1:{ep.port}/health"
        status, body = await register(node, {"agent_id": "side", "capabilities": ["x"],
                                             "check": {"http": url, "interval": 0.2,
                                                       "timeout": 0.2}})
        assert status == 201 and body["heartbeat"]["check"]["http"] == url
        assert await node.wait_for(lambda: node.get("side").heartbeat_count >= 2, 5.0)  # type: ignore[union-attr]
        await ep.stop()
        assert await node.wait_for(
            lambda: node.get("side").status is AgentStatus.UNHEALTHY, 5.0)  # type: ignore[union-attr]
        await ep.start()
        assert await node.wait_for(
            lambda: node.get("side").status is AgentStatus.ACTIVE, 5.0)  # type: ignore[union-attr]
        assert causes(events, "side") == ["check_failed", "check_passed"]
    finally:
        await node.shutdown()
        await ep.stop()
        await ep.runner.cleanup()


async def test_a_ttl_check_and_the_heartbeat_contract() -> None:
    node = await GossipNode("owner", config=NodeConfig.local()).start()
    events: list[Any] = []
    node.add_listener(events.append)
    try:
        status, body = await register(node, {"agent_id": "plain"})
        assert status == 201
        hb = body["heartbeat"]
        assert hb["required"] is True and hb["every"] == 30 and hb["unhealthy_after"] == 60
        assert "POST /v1/agents/{id}/heartbeat about every 30 s" in hb["note"]
        status, body = await register(node, {"agent_id": "ttl", "check": {"ttl": 0.3}})
        assert status == 201 and body["heartbeat"]["check"] == {"ttl": 0.3}
        assert await node.wait_for(
            lambda: node.get("ttl").status is AgentStatus.UNHEALTHY, 5.0)  # type: ignore[union-attr]
        await node.heartbeat("ttl")
        assert await node.wait_for(
            lambda: node.get("ttl").status is AgentStatus.ACTIVE, 5.0)  # type: ignore[union-attr]
        assert causes(events, "ttl") == ["check_failed", "check_passed"]
        status, body = await register(node, {"agent_id": "bad", "check": {"http": "ftp://x"}})
        assert status == 400 and "http:// or https:// URL" in body["error"]
        assert node.get("bad") is None  # a bad check registers nothing
    finally:
        await node.shutdown()


@pytest.mark.parametrize(("spec", "message"), [
    ("x", "check must be an object"), ({}, "either http or ttl"),
    ({"http": "http://a", "ttl": 1}, "either http or ttl"),
    ({"ttl": 0}, "ttl must be a number of seconds"), ({"ttl": 1, "interval": 2}, "no interval"),
    ({"http": "http://a", "interval": 1, "timeout": 2}, "must not exceed"),
    ({"http": "http://a", "every": 1}, "unknown check fields"),
])
def test_bad_checks_are_refused(spec: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_check(spec)


def test_the_cli_refuses_a_bad_check_with_the_same_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    from gossipreg.cli.app import main

    assert main(["register", "x", "--check-http", "ftp://x", "--node", "127.0.0.1:9"]) == 2
    assert "check http must be an http:// or https:// URL" in capsys.readouterr().err
