"""The CLI's write commands, ``agent ID``, ``health``, ``--version``, ``--json`` with real
lists, checked addresses, brief reports of answers that are not JSON, help on every flag."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator

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
    assert code == 1 and "answered 404: unknown agent" in err
    assert (await cli(capsys, "register", "x", *at))[0] == 0
    code, _, err = await cli(capsys, "register", "x", *at)
    assert code == 1 and "answered 409" in err and "already registered" in err


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
