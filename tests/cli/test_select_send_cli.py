"""``gossipreg select``/``send``/``load``/``agent``/``agents``/``search`` on the 3-node mesh with
three real a2a-sdk agents: the same choices as Python and HTTP, endpoints shown, round-robin
within one of even, least-loaded around a full agent, failover, hostile input refused with
the Python message and exit 2 (nothing sent); and ``gossipreg mcp`` driven by the MCP SDK's
own client over stdio."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from gossipreg.cli.app import main
from gossipreg.core.errors import GossipregError
from gossipreg.core.types import AgentLoad, AgentStatus
from tests.route_mesh import Mesh, route_mesh
from tests.support import need_a2a_module, until

pytestmark = pytest.mark.network


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async for m in route_mesh():
        yield m


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_select_send_and_endpoints_on_the_cli(mesh: Mesh,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", mesh.caller.address)
    url = mesh.agents["translator"].url
    code, out, _ = await cli(capsys, "select", "translate into French", *at)
    assert code == 0 and out.splitlines()[1].split()[1] == "translator" and url in out
    code, out, _ = await cli(capsys, "select", "translate into French", "--json", *at)
    assert json.loads(out)["candidates"][0]["endpoint"]["url"] == url
    code, out, err = await cli(capsys, "send", "summarize a report", "-m", "Sales rose.", *at)
    assert code == 0 and "Summarizer: Sales rose." in out and "summarizer: ok" in err
    # Endpoints in agent, agents and search (the ARD url stays the card's).
    code, out, _ = await cli(capsys, "agent", "translator", *at)
    assert code == 0 and re.search(rf"^endpoints +{re.escape(url)} \(JSONRPC 1\.0\)$", out, re.M)
    code, out, _ = await cli(capsys, "agents", *at)
    assert code == 0 and "ENDPOINT" in out and url in out
    code, out, _ = await cli(capsys, "search", "french translation", "--json", *at)
    hit = json.loads(out)[0]
    assert hit["url"].endswith("/v1/agents/translator/card")
    assert hit["metadata"]["endpoints"][0]["url"] == url
    code, out, _ = await cli(capsys, "search", "french translation", *at)
    assert "ENDPOINT" in out and url in out


async def test_round_robin_least_loaded_and_failover_on_the_cli(
        mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", mesh.caller.address)
    picked: Counter[str] = Counter()
    for i in range(30):
        code, out, _ = await cli(capsys, "send", "--capability", "general assistance",
                                 "--strategy", "round_robin", "-m", f"t{i}", "--json", *at)
        assert code == 0
        picked[json.loads(out)["agent_id"]] += 1
    assert max(picked.values()) - min(picked.values()) <= 1 and len(picked) == 3
    code, out, _ = await cli(capsys, "load", "coder", "10", "10", *at)  # n2 hosts the coder
    assert code == 0 and out.strip() == "load of coder: 10/10"
    code, _, err = await cli(capsys, "load", "summarizer", "1", "10", *at)
    assert code == 1 and "published by its owner node n0 (refused)" in err
    assert await until(lambda: mesh.nodes[0].read.load("coder") == AgentLoad(10, 10))
    code, out, _ = await cli(capsys, "select", "--capability", "general assistance",
                             "--strategy", "least_loaded", "--json", *at)
    assert json.loads(out)["candidates"][-1]["agent_id"] == "coder"
    await mesh.agents["translator"].kill()
    code, out, err = await cli(capsys, "send", "--agent", "translator", "--agent", "coder",
                               "-m", "hi", "--deadline", "5", *at)
    assert code == 0 and "translator: unreachable" in err and "Coder: hi" in out
    code, _, err = await cli(capsys, "send", "--agent", "translator", "-m", "hi", *at)
    assert code == 1 and "(unavailable)" in err
    await mesh.nodes[0].set_status("summarizer", AgentStatus.OFFLINE)
    assert await until(lambda: mesh.caller.get("summarizer").status is AgentStatus.OFFLINE)
    before = mesh.served()["summarizer"]
    code, _, err = await cli(capsys, "send", "--agent", "summarizer", "-m", "hi", *at)
    assert code == 1 and "(not_found)" in err and mesh.served()["summarizer"] == before


async def test_hostile_input_on_the_cli(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", mesh.caller.address)
    for extra, kw in ((("--strategy", "fastest"), {"strategy": "fastest"}),
                      (("--deadline", "0"), {"deadline": 0}),
                      (("-m", "x" * 70_000), {"message": "x" * 70_000})):
        argv = ("send", "general assistance", "-m", "hi", *extra, *at)
        code, _, err = await cli(capsys, *argv)
        with pytest.raises(GossipregError) as e:
            await mesh.caller.send("general assistance", **{"message": "hi", **kw})
        assert code == 2 and err.strip() == f"gossipreg: {e.value} (invalid_argument)"
    assert mesh.served() == {"summarizer": 0, "translator": 0, "coder": 0}


async def test_mcp_tools_over_stdio_with_the_sdks_client(mesh: Mesh) -> None:
    need_a2a_module("mcp")
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "gossipreg", "mcp", "--node", mesh.caller.address])
    async with asyncio.timeout(60), stdio_client(params) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"find_agents", "select_agent", "send_to_agent"} <= names
        found = await session.call_tool("find_agents", {"text": "french translation"})
        data = found.structured_content or json.loads(found.content[0].text)
        rows = data["result"] if isinstance(data, dict) and "result" in data else data
        assert rows[0]["agent_id"] == "translator"
        assert rows[0]["endpoints"][0]["url"] == mesh.agents["translator"].url
        sel = await session.call_tool("select_agent", {"text": "python code review"})
        data = sel.structured_content
        rows = data["result"] if isinstance(data, dict) and "result" in data else data
        assert rows[0]["agent_id"] == "coder"
        sent = await session.call_tool("send_to_agent", {"message": "Résumé please",
                                                         "text": "summarize documents"})
        assert not sent.is_error
        out = sent.structured_content or json.loads(sent.content[0].text)
        assert out["agent_id"] == "summarizer" and out["text"] == "Summarizer: Résumé please"
        bad = await session.call_tool("send_to_agent", {"message": "x", "text": "y",
                                                        "strategy": "fastest"})
        assert bad.is_error and "unknown strategy 'fastest'" in bad.content[0].text
    assert mesh.served()["summarizer"] == 1
