"""Select and send over HTTP on the 3-node mesh with three real a2a-sdk agents: the same
choices as from Python, the load route, failover with every attempt in the answer, streaming
as server-sent events, hostile input refused with 4xx and the Python message (nothing sent),
and ``/v1/send`` never an open relay (token when set; else loopback callers only)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from gossipreg.core.errors import GossipregError
from gossipreg.core.types import AgentLoad, AgentStatus
from gossipreg.io.api.route import _Route
from tests.route_mesh import Mesh, route_mesh
from tests.support import until

pytestmark = pytest.mark.network


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async for m in route_mesh():
        yield m


async def post(node_addr: str, path: str, body: Any, method: str = "POST",
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(
            method, f"http://{node_addr}{path}", json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_select_and_send_over_http(mesh: Mesh) -> None:
    addr = mesh.caller.address
    status, body = await post(addr, "/v1/select", {"text": "translate into French", "k": 2})
    assert status == 200
    top = body["candidates"][0]
    assert top["agent_id"] == "translator" and top["status"] == "active"
    assert top["endpoint"] == {"url": mesh.agents["translator"].url,
                               "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    assert top["why"].startswith("best: relevance") and top["load"] is None
    status, body = await post(addr, "/v1/send", {"text": "summarize a report",
                                                 "message": "Numbers went up."})
    assert status == 200, body
    assert body["agent_id"] == "summarizer" and body["text"] == "Summarizer: Numbers went up."
    assert body["attempts"][0]["outcome"] == "ok" and body["response"]["message"]["parts"]
    # An A2A Message as JSON (0.3's kind/role spelling accepted too).
    msg = {"role": "user", "parts": [{"kind": "text", "text": "Bonjour"}], "messageId": "m-1"}
    status, body = await post(addr, "/v1/send", {"agent_ids": ["translator"], "message": msg})
    assert status == 200 and body["message_id"] == "m-1"
    assert mesh.agents["translator"].served == ["m-1"]


async def test_round_robin_over_http_spreads_30_sends(mesh: Mesh) -> None:
    picked: Counter[str] = Counter()
    for i in range(30):
        status, body = await post(mesh.caller.address, "/v1/send", {
            "capability": "general assistance", "strategy": "round_robin",
            "message": f"t{i}"})
        assert status == 200, body
        picked[body["agent_id"]] += 1
    assert max(picked.values()) - min(picked.values()) <= 1 and len(picked) == 3


async def test_load_route_and_least_loaded(mesh: Mesh) -> None:
    owner, caller = mesh.nodes[1], mesh.caller  # n1 hosts the translator
    status, body = await post(caller.address, "/v1/agents/translator/load",
                              {"active_tasks": 10, "max_concurrency": 10}, method="PUT")
    assert status == 409 and "published by its owner node n1" in body["error"]
    status, body = await post(owner.address, "/v1/agents/translator/load",
                              {"active_tasks": 10, "max_concurrency": 10}, method="PUT")
    assert (status, body) == (200, {"ok": True})
    status, body = await post(owner.address, "/v1/agents/translator/load",
                              {"active_tasks": -1, "max_concurrency": 10}, method="PUT")
    assert status == 400 and body["error"] == "active_tasks must be an integer in [0, 2147483648]"
    status, _ = await post(owner.address, "/v1/agents/nobody/load",
                           {"active_tasks": 1, "max_concurrency": 10}, method="PUT")
    assert status == 404
    assert await until(lambda: caller.read.load("translator") == AgentLoad(10, 10))
    for i in range(6):
        status, body = await post(caller.address, "/v1/send", {
            "capability": "general assistance", "strategy": "least_loaded", "message": f"{i}"})
        assert status == 200 and body["agent_id"] != "translator"


async def test_failover_and_non_active_over_http(mesh: Mesh) -> None:
    await mesh.agents["coder"].kill()
    status, body = await post(mesh.caller.address, "/v1/send", {
        "agent_ids": ["coder", "summarizer"], "message": "hi", "deadline": 5})
    assert status == 200 and body["agent_id"] == "summarizer"
    assert [a["outcome"] for a in body["attempts"]] == ["unreachable", "ok"]
    status, body = await post(mesh.caller.address, "/v1/send", {
        "agent_ids": ["coder"], "message": "hi", "deadline": 5})
    assert status == 502 and body["code"] == "unavailable"
    assert [a["outcome"] for a in body["attempts"]] == ["unreachable"]
    await mesh.nodes[0].set_status("summarizer", AgentStatus.UNHEALTHY)
    assert await until(lambda: mesh.caller.get("summarizer").status is AgentStatus.UNHEALTHY)
    status, body = await post(mesh.caller.address, "/v1/select", {
        "capability": "general assistance", "strategy": "random", "k": 3})
    assert status == 200 and "summarizer" not in [c["agent_id"] for c in body["candidates"]]


async def test_streaming_over_http_is_server_sent_events(mesh: Mesh) -> None:
    from tests.a2a_agents import start_agent

    streamer = await start_agent("Streamer", streaming=True)
    try:
        await mesh.caller.register(agent_id="streamer", card=streamer.card(
            [("poem", "Write poems", ["poetry"])]))
        async with aiohttp.ClientSession() as s, s.post(
                f"http://{mesh.caller.address}/v1/send",
                json={"text": "write a poem", "message": "roses", "stream": True}) as r:
            assert r.status == 200 and r.content_type == "text/event-stream"
            text = await r.text()
        kinds = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
        assert kinds.count("response") >= 3 and kinds[-1] == "result"
        last = json.loads(text.strip().splitlines()[-1][6:])
        assert last["agent_id"] == "streamer" and last["text"] == "Streamer: roses"
    finally:
        await streamer.kill()


async def test_hostile_input_gets_4xx_with_the_python_message_and_nothing_is_sent(
        mesh: Mesh) -> None:
    c = mesh.caller
    cases: list[tuple[dict[str, Any], dict[str, Any], int]] = [
        ({"strategy": "fastest"}, {"strategy": "fastest"}, 400),
        ({"message": "x" * 70_000}, {"message": "x" * 70_000}, 400),
        ({"deadline": 0}, {"deadline": 0}, 400),
        ({"message": {"parts": "no"}}, {"message": {"parts": "no"}}, 400),
        ({"text": "quantum lattice chromodynamics"}, {"text": "quantum lattice chromodynamics"},
         404),
    ]
    for http_kw, py_kw, code in cases:
        body = {"text": "general assistance", "message": "hi", **http_kw}
        status, answer = await post(c.address, "/v1/send", body)
        assert status == code, answer
        with pytest.raises(GossipregError) as e:
            await c.send(**{"text": "general assistance", "message": "hi", **py_kw})
        assert answer["error"] == str(e.value)
    status, answer = await post(c.address, "/v1/send", {"text": "x", "message": "hi",
                                                        "bogus": 1})
    assert status == 400 and answer["error"] == "bogus: unknown field"
    status, answer = await post(c.address, "/v1/select", {"text": "x", "k": "3"})
    assert status == 400 and answer["error"].startswith("k: ")
    async with aiohttp.ClientSession() as s, s.post(
            f"http://{c.address}/v1/send", data=b"{not json",
            headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    assert mesh.served() == {"summarizer": 0, "translator": 0, "coder": 0}


async def test_send_is_never_an_open_relay(mesh: Mesh) -> None:
    far = make_mocked_request("POST", "/v1/send").clone(remote="192.0.2.7")
    resp = await _Route(mesh.caller, None).send(far)
    assert resp.status == 403
    async for m in route_mesh(token="s3cret"):
        status, body = await post(m.caller.address, "/v1/send",
                                  {"text": "summarize", "message": "x"})
        assert status == 401
        status, body = await post(m.caller.address, "/v1/send",
                                  {"text": "summarize", "message": "x"},
                                  headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and body["agent_id"] == "summarizer"
