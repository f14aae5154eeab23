"""The CLI's write commands, ``agent ID``, ``health``, ``--version``, ``--json`` with real
lists, checked addresses, brief reports of answers that are not JSON, help on every flag."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gossipreg import GossipNode, NodeConfig
from gossipreg.cli.app import _parser, main

pytestmark = pytest.mark.network


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("cli", config=NodeConfig.local()).start()
    yield n
    await n.shutdown()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_write_commands_and_json_lists(node: GossipNode,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address)
    code, out, _ = await cli(capsys, "register", "coder", "--capability", "python",
                             "--capability", "code review", "--tag", "fast", *at)
    assert code == 0 and out.startswith(f"registered coder on {node.address}")
    code, out, _ = await cli(capsys, "agents", "--json", *at)
    assert code == 0
    assert json.loads(out)[0]["capabilities"] == ["python", "code review"]
    code, out, _ = await cli(capsys, "agents", *at)
    assert "python, code review" in out  # the table flattens, the JSON does not
    code, out, _ = await cli(capsys, "agent", "coder", "--json", *at)
    assert code == 0 and json.loads(out)["tags"] == ["fast"]
    code, out, _ = await cli(capsys, "status", "coder", "degraded", *at)
    assert code == 0 and node.get("coder").status.value == "degraded"  # type: ignore[union-attr]
    code, out, _ = await cli(capsys, "heartbeat", "coder", *at)
    assert code == 0 and node.get("coder").heartbeat_count >= 1  # type: ignore[union-attr]
    code, out, _ = await cli(capsys, "health", "--json", *at)
    assert code == 0 and json.loads(out)["status"] == "ok"
    code, out, _ = await cli(capsys, "deregister", "coder", *at)
    assert code == 0 and node.get("coder") is None
    code, _, err = await cli(capsys, "agent", "coder", *at)
    assert code == 1 and err == "gossipreg: unknown agent 'coder' (not_found)\n"
    assert (await cli(capsys, "register", "x", *at))[0] == 0
    code, _, err = await cli(capsys, "register", "x", *at)
    assert code == 1 and "already registered" in err and err.endswith(" (already_exists)\n")


async def test_addresses_are_checked_and_odd_answers_reported_briefly(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await cli(capsys, "health", "--node", "127.0.0.1")
    assert code == 2 and "bad address '127.0.0.1': expected host:port" in err
    code, _, err = await cli(capsys, "agents", "--node", "127.0.0.1")
    assert code == 2 and "bad address '127.0.0.1'" in err

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>" + "x" * 5000 + "</html>", content_type="text/html",
                            status=502)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", html)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        code, _, err = await cli(capsys, "health", "--node", f"127.0.0.1:{port}")
        assert code == 2 and "answered 502 with 5013 bytes of text/html" in err
        assert len(err) < 200  # one line, not the page
    finally:
        await runner.cleanup()


def test_version_and_help_on_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("gossipreg 0.")
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not a.help and a.dest != "help"]
    assert all("control" in m for m in missing), missing  # the harness's hidden hook only


CARD = {"name": "FX desk", "description": "Foreign exchange quotes", "version": "1.0.0",
        "provider": {"organization": "Acme Bank", "url": "https://acme.example"},
        "supportedInterfaces": [{"url": "http://127.0.0.1:9000/a2a",
                                 "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {}, "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "fx-convert", "name": "Currency conversion",
                    "description": "Convert an amount", "tags": ["finance"]}]}


async def test_agent_reads_well_with_and_without_a_card(
        node: GossipNode, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    at = ("--node", node.address)
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD))
    code, out, _ = await cli(capsys, "register", "fx", "--card", str(card), *at)
    assert code == 0 and node.get("fx").record.name == "FX desk"  # type: ignore[union-attr]
    await node.register(agent_id="plain", name="Plain", runtime_id="rt", capabilities=["x"])
    code, out, _ = await cli(capsys, "agent", "fx", *at)
    assert code == 0
    assert "endpoints     http://127.0.0.1:9000/a2a (JSONRPC 1.0)" in out
    assert "skills        fx-convert: Currency conversion" in out
    assert "provider      Acme Bank https://acme.example" in out
    assert "card          gossipreg agent fx --json" in out
    code, out, _ = await cli(capsys, "agent", "fx", "--json", *at)
    assert code == 0 and json.loads(out)["card"]["name"] == "FX desk"
    code, out, _ = await cli(capsys, "agent", "plain", *at)
    assert code == 0 and "None" not in out and "card" not in out and "_unix" not in out
    assert re.search(r"^registered    \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", out, re.M), out
    assert re.search(r"^heartbeat     \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(0 since", out, re.M)
    code, _, err = await cli(capsys, "register", "bad", "--card", str(tmp_path / "no"), *at)
    assert code == 2 and "cannot read card file" in err


async def test_agents_by_tag_and_the_heartbeat_hint(
        node: GossipNode, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address)
    code, out, _ = await cli(capsys, "register", "t1", "--tag", "fast", "--capability", "x",
                             *at)
    assert code == 0 and "run `gossipreg heartbeat t1` about every 30 s" in out
    assert "POST /v1/agents" not in out
    await cli(capsys, "register", "t2", "--tag", "slow", "--capability", "x", *at)
    code, out, _ = await cli(capsys, "agents", "--tag", "fast", "--json", *at)
    assert code == 0 and [a["agent_id"] for a in json.loads(out)] == ["t1"]
    code, out, _ = await cli(capsys, "agents", "--tag", "none-such", *at)
    assert code == 0 and out.strip().startswith("AGENT_ID")  # an empty list is an answer


async def test_members_lists_running_members_unless_asked(
        node: GossipNode, capsys: pytest.CaptureFixture[str]) -> None:
    other = await GossipNode("gone", seeds=[node.address], config=NodeConfig.local()).start()
    assert await other.wait_joined(5.0)
    await other.leave()
    await other.shutdown()
    assert await node.wait_for(lambda: any(m.node_id == "gone" and m.state.name == "LEFT"
                                           for m in node.members()), 5.0)
    at = ("--node", node.address, "--json")
    code, out, _ = await cli(capsys, "members", *at)
    assert code == 0 and [m["node_id"] for m in json.loads(out)] == ["cli"]
    code, out, _ = await cli(capsys, "members", "--state", "any", *at)
    assert {m["node_id"] for m in json.loads(out)} == {"cli", "gone"}
    code, out, _ = await cli(capsys, "members", "--state", "left,dead", *at)
    assert [m["node_id"] for m in json.loads(out)] == ["gone"]
