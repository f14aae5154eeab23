"""Health without secrets: on a node with a token, the health routes answer probes without it
(state, readiness and version only), the full report with it; /metrics needs the token unless
the operator opens it; the README's Kubernetes probes work on a token-protected node."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.io.api.routes import serve_http
from gossipreg.io.net.transport import HttpTransport
from gossipreg.io.runner import NodeRunner
from gossipreg.version import __version__
from tests.support import until_blocking

pytestmark = pytest.mark.network
TOKEN = "s3cret"
README = Path(__file__).resolve().parents[2] / "README.md"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def get(addr: str, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(f"http://{addr}{path}",
                                                   headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_health_says_state_and_version_without_the_token() -> None:
    node = await GossipNode("h", config=NodeConfig.local(), token=TOKEN).start()
    try:
        for path in ("/v1/health", "/v1/health/ready"):
            status, body = await get(node.address, path)
            assert status == 200 and body == {"status": "ok", "ready": True,
                                              "version": __version__}
            status, body = await get(node.address, path, TOKEN)
            assert status == 200 and body["node_id"] == "h" and body["version"] == __version__
            assert body["address"] == node.address and "members_alive" in body
            status, body = await get(node.address, path, "wrong")
            assert status == 401 and body["error"] == "missing or wrong bearer token"
        status, _ = await get(node.address, "/metrics")
        assert status == 401
    finally:
        await node.shutdown()


async def test_a_joining_node_tells_a_probe_nothing_of_its_seeds() -> None:
    seed = f"127.0.0.1:{closed_port()}"
    node = await GossipNode("j", seeds=[seed], config=NodeConfig.local(), token=TOKEN).start()
    try:
        status, body = await get(node.address, "/v1/health/ready")
        assert status == 503 and body == {"status": "joining", "ready": False,
                                          "version": __version__}
        status, body = await get(node.address, "/v1/health/ready", TOKEN)
        assert status == 503 and seed in body["reason"]
    finally:
        await node.shutdown()


async def test_metrics_open_only_when_the_operator_says_so() -> None:
    transport = HttpTransport("127.0.0.1:0")
    node = NodeRunner("mo", transport=transport, config=NodeConfig.local())
    serve_http(node, transport.app, token=TOKEN, metrics_open=True)
    await node.start()
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://{node.address}/metrics") as r:
            assert r.status == 200 and "gossipreg_build_info" in await r.text()
        status, _ = await get(node.address, "/v1/members")
        assert status == 401  # the rest of the API stays closed
    finally:
        await node.shutdown()


def test_the_readme_probes_work_on_a_token_protected_node(tmp_path: Path) -> None:
    probes = dict(re.findall(r"(\w+Probe): \{httpGet: \{path: (/\S+), port: 7946\}\}",
                             README.read_text()))
    assert set(probes) == {"livenessProbe", "readinessProbe"}
    token = tmp_path / "token.txt"
    token.write_text(TOKEN)
    addr = f"127.0.0.1:{closed_port()}"
    p = subprocess.Popen([sys.executable, "-m", "gossipreg", "node", "--name", "k", "--bind",
                          addr, "--profile", "local", "--token-file", str(token),
                          "--metrics-open"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        import urllib.error
        import urllib.request

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://{addr}{path}", timeout=2) as r:
                    return int(r.status)
            except urllib.error.HTTPError as e:
                return int(e.code)

        def answers_200(path: str) -> Callable[[], bool]:
            return lambda: status(path) == 200

        for path in probes.values():
            assert until_blocking(answers_200(path), 10), path
        assert status("/metrics") == 200  # --metrics-open
        assert status("/v1/members") == 401
    finally:
        p.terminate()
        p.wait(10)
