"""The HTTP API as operators and generated clients expect: one JSON error envelope
(aiohttp's own 404/405/413 included), 413 for oversized bodies (chunked too), 415, Bearer on
401, Location on 201, an OpenAPI 3 document that validates, matches the routes and survives
schemathesis against a live node, and Prometheus names by the conventions."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.metrics import DROP_REASONS
from gossipreg.io.api.errors import API_BODY_LIMIT

pytestmark = pytest.mark.network
TOKEN = "tok"


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("api", config=NodeConfig.local(), token=TOKEN).start()
    yield n
    await n.shutdown()


def auth(scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {TOKEN}"}


async def test_every_error_is_one_json_envelope(node: GossipNode) -> None:
    base = f"http://{node.address}"

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"agent_id": "' + b"x" * API_BODY_LIMIT + b'"}'

    cases: list[tuple[str, str, dict[str, object], int]] = [
        ("GET", "/v1/nope", {"headers": auth()}, 404),
        ("DELETE", "/v1/members", {"headers": auth()}, 405),
        ("GET", "/v1/members", {}, 401),
        ("GET", "/v1/members", {"headers": auth("Basic")}, 401),
        ("POST", "/v1/agents", {"headers": auth(), "data": b"{}"}, 415),
        ("POST", "/v1/agents", {"headers": {**auth(), "Content-Type": "application/json"},
                                "data": b"x" * (API_BODY_LIMIT + 1)}, 413),
        ("POST", "/v1/agents", {"headers": {**auth(), "Content-Type": "application/json"},
                                "data": chunked()}, 413),
        ("POST", "/v1/agents", {"headers": auth(), "json": {"agent_id": ""}}, 400),
        ("GET", "/v1/agents/nobody", {"headers": auth()}, 404),
    ]
    async with aiohttp.ClientSession() as s:
        for method, path, kw, want in cases:
            async with s.request(method, base + path, **kw) as r:  # type: ignore[arg-type]
                body = await r.json()
                assert r.status == want, (method, path, r.status, body)
                assert set(body) == {"error", "code", "status"} and body["status"] == want
                assert isinstance(body["error"], str) and body["error"]
                if want == 401:
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
        async with s.get(base + "/v1/members", headers=auth("bEaReR")) as r:
            assert r.status == 200  # the scheme is case-insensitive
        async with s.post(base + "/v1/agents", headers=auth(),
                          json={"agent_id": "a/b c", "capabilities": ["x"]}) as r:
            assert r.status == 201 and r.headers["Location"] == "/v1/agents/a%2Fb%20c"
        async with s.get(base + "/metrics", headers=auth()) as r:
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            text = await r.text()
        # The gossip endpoint keeps its own binary contract.
        async with s.post(base + "/v1/gossip", data=b"junk") as r:
            assert r.status in (200, 204, 403)
    for reason in DROP_REASONS:
        assert f'gossipreg_packets_dropped_total{{reason="{reason}"}}' in text
    assert re.search(r'^gossipreg_build_info\{.*version="', text, re.M)  # labels sorted
    assert "gossipreg_received_bytes_total " in text and "gossipreg_sent_bytes_total " in text
    promtool = shutil.which("promtool")
    if promtool is not None:  # where the prometheus package installs
        p = await asyncio.create_subprocess_exec(
            promtool, "check", "metrics", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await p.communicate(text.encode())
        assert p.returncode == 0, out.decode()


async def test_the_openapi_document_validates_and_matches_the_routes(node: GossipNode) -> None:
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://{node.address}/v1/openapi.json") as r:
        assert r.status == 200  # no token needed to read the description
        doc = await r.json()
    validate(doc)
    app = node.transport.app  # type: ignore[attr-defined]
    routes = {(res.canonical.replace("{agent_id}", "{agent_id}"), route.method.lower())
              for res in app.router.resources() for route in res
              if route.method != "HEAD" and not res.canonical.startswith("/v1/gossip")}
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops
                  if m != "parameters"}
    assert routes - documented == set()
    # The admin routes are gossipreg node's (cli/node.py mounts them), not GossipNode's.
    admin = {"/v1/admin/reload-keys", "/v1/admin/forget-node", "/v1/admin/rotate-identity"}
    assert {p for p, _ in documented} - {p for p, _ in routes} <= admin


async def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(tmp_path: Path) -> None:
    """Bounded (a few examples per operation); a longer run is in the README. The document is
    the node's own, less the long-poll parameters (``index``/``wait`` hold a request up to
    30 s by design; tests/io/test_event_resume.py covers them and their 400s)."""
    node = await GossipNode("st", config=NodeConfig.local()).start()
    try:
        async with aiohttp.ClientSession() as s, \
                s.get(f"http://{node.address}/v1/openapi.json") as r:
            doc = await r.json()
        for ops in doc["paths"].values():
            for op in ops.values():
                if isinstance(op, dict) and "parameters" in op:
                    op["parameters"] = [q for q in op["parameters"]
                                        if q.get("name") not in ("index", "wait")]
        spec = tmp_path / "openapi.json"
        spec.write_text(json.dumps(doc))
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(spec),
               "--url", f"http://{node.address}", "--max-examples", "8", "--seed", "1",
               "--checks", "not_a_server_error,status_code_conformance,"
               "content_type_conformance,response_schema_conformance,"
               "response_headers_conformance",
               "--exclude-path", "/v1/events", "--no-color", "--request-timeout", "5"]
        p = await asyncio.create_subprocess_exec(
            *cmd, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(p.communicate(), 240)
        text = out.decode()
        assert p.returncode == 0, text[-4000:]
        assert "Tested: " in text
    finally:
        await node.shutdown()
