"""One CLI error model: every command prints a refusal as one line, ``gossipreg: <message>
(<code>)``, with the node's words, and exits 0 done / 1 refused or not found / 2 bad input or
unreachable; the same refusal reads the same from every command."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from gossipreg import AgentStatus, GossipNode, NodeConfig
from gossipreg.cli.app import main

pytestmark = pytest.mark.network
TOKEN = "tok"


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("cli", config=NodeConfig.local(heartbeat_timeout=None),
                         token=TOKEN).start()
    await n.register(agent_id="slow", name="Slow coder", runtime_id="rt",
                     capabilities=["python code"], tags=["t1"])
    await n.set_status("slow", AgentStatus.DEGRADED, "disk")
    yield n
    await n.shutdown()


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_bad_status_reads_the_same_in_agents_and_search(
        node: GossipNode, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address, "--token", TOKEN)
    code_a, _, err_a = await cli(capsys, "agents", "--status", "bogus", *at)
    code_s, _, err_s = await cli(capsys, "search", "python", "--status", "bogus", *at)
    assert code_a == code_s == 2 and err_a == err_s
    assert err_a == ("gossipreg: unknown status 'bogus': use one of active, degraded, "
                     "unhealthy, offline or any (invalid_argument)\n")
    code, out, _ = await cli(capsys, "search", "python", "--status", "any", *at)
    assert code == 0 and "slow" in out
    code, out, _ = await cli(capsys, "agents", "--status", "any", *at)
    assert code == 0 and "slow" in out
    code, out, err = await cli(capsys, "search", "nothing-like-it", *at)
    assert code == 0 and err == "" and out.startswith("SCORE")  # no match is an answer


async def test_a_wrong_token_is_one_line_and_exit_1_everywhere(
        node: GossipNode, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address, "--token", "wrong")
    line = "gossipreg: missing or wrong bearer token (unauthorized)\n"
    for argv in (("agents",), ("members",), ("search", "x"), ("events", "--count", "1"),
                 ("agent", "slow"), ("register", "x"), ("heartbeat", "slow"),
                 ("status", "slow", "active"), ("deregister", "slow"), ("health",),
                 ("monitor", "--count", "1")):
        code, out, err = await cli(capsys, *argv, *at)
        assert (code, err, out) == (1, line, ""), argv


async def test_bad_input_names_what_was_given(node: GossipNode,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address, "--token", TOKEN)
    code, _, err = await cli(capsys, "events", "--types", "agent_registered,bogus", *at)
    assert code == 2 and err.count("\n") == 1
    assert "unknown event type 'bogus'" in err and "member_failed" in err
    with pytest.raises(SystemExit) as done:  # argparse's refusal, in the one-line model
        main(["search", "x", "--limit", "0", *at])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1
    assert err.startswith("gossipreg: search: argument --limit: must be an integer in 1..100")
    assert "pageSize" not in err
    code, _, err = await cli(capsys, "status", "slow", "bogus", *at)
    assert code == 2 and err.startswith("gossipreg: unknown status 'bogus'")
    code, _, err = await cli(capsys, "members", "--state", "gone", *at)
    assert code == 2 and "unknown member state 'gone'" in err
    code, _, err = await cli(capsys, "agent", "nobody", *at)
    assert (code, err) == (1, "gossipreg: unknown agent 'nobody' (not_found)\n")


def test_log_level_and_flags_are_clean_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "--name", "x", "--log-level", "loud"]) == 2
    err = capsys.readouterr().err
    assert err == ("gossipreg: log_level must be one of debug, info, warning, error, not "
                   "'loud' (from the command line) (invalid_argument)\n")
    with pytest.raises(SystemExit) as done:
        main(["agents", "--timeout", "soon"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "(invalid_argument)" in err


async def test_an_unreachable_node_is_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    addr = f"127.0.0.1:{closed_port()}"
    for argv in (("members",), ("agent", "x"), ("search", "x"), ("events",)):
        code, _, err = await cli(capsys, *argv, "--node", addr)
        assert (code, err) == (2, f"gossipreg: cannot reach {addr}: connection refused "
                                  f"(unavailable)\n"), argv


async def test_health_not_ready_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    seed = f"127.0.0.1:{closed_port()}"
    node = await GossipNode("j", seeds=[seed], config=NodeConfig.local()).start()
    try:
        code, out, _ = await cli(capsys, "health", "--node", node.address)
        assert code == 1 and out.startswith("joining") and seed in out
    finally:
        await node.shutdown()


async def test_ids_are_url_encoded(node: GossipNode, capsys: pytest.CaptureFixture[str]) -> None:
    at = ("--node", node.address, "--token", TOKEN)
    aid = "team/a b?c#d"
    assert (await cli(capsys, "register", aid, "--capability", "x", *at))[0] == 0
    assert node.get(aid) is not None
    code, out, _ = await cli(capsys, "agent", aid, *at)
    assert code == 0 and f"agent         {aid}" in out
    for argv in (("heartbeat", aid), ("status", aid, "degraded"), ("deregister", aid)):
        code, _, err = await cli(capsys, *argv, *at)
        assert code == 0, (argv, err)
    assert node.get(aid) is None
