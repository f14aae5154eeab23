"""Real OS processes running ``gossipreg node`` on loopback: SIGKILL is detected, a short SIGSTOP
is not a failure, SIGTERM leaves gracefully; the query commands and the demo work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import http_json, until_blocking

pytestmark = pytest.mark.network


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(addr: str, path: str) -> Any:
    return http_json(f"http://{addr}{path}")


def post(addr: str, path: str, body: dict[str, Any]) -> Any:
    return http_json(f"http://{addr}{path}", body)




def state_of(addr: str, node: str) -> str | None:
    return next((m["state"] for m in get(addr, "/v1/members") if m["node_id"] == node), None)


@pytest.fixture
def cluster() -> Iterator[dict[str, tuple[subprocess.Popen[str], str]]]:
    procs: dict[str, tuple[subprocess.Popen[str], str]] = {}
    seed = None
    try:
        for i in range(4):
            addr = f"127.0.0.1:{free_port()}"
            cmd = [sys.executable, "-m", "gossipreg", "node", "--name", f"p{i}", "--bind", addr,
                   "--profile", "local"] + (["--join", seed] if seed else [])
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, start_new_session=True)
            assert p.stdout is not None
            assert "listening on" in p.stdout.readline()
            procs[f"p{i}"] = (p, addr)
            seed = seed or addr
        addrs = [a for _, a in procs.values()]
        assert until_blocking(lambda: all(
            sum(m["state"] == "alive" for m in get(a, "/v1/members")) == 4 for a in addrs), 10)
        yield procs
    finally:
        for p, _ in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def test_kill_pause_and_term(cluster: dict[str, tuple[subprocess.Popen[str], str]]) -> None:
    (_p0, a0), (p1, a1), (p2, a2), (p3, a3) = cluster.values()
    post(a1, "/v1/agents", {"agent_id": "k1", "name": "K", "runtime_id": "rt1",
                            "capabilities": ["x"]})
    assert until_blocking(lambda: all(get(a, "/v1/agents?status=any") for a in (a0, a2, a3)), 5)
    # SIGSTOP shorter than the suspicion timeout: never DEAD anywhere.
    os.kill(p2.pid, signal.SIGSTOP)
    time.sleep(0.5)
    os.kill(p2.pid, signal.SIGCONT)
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        assert all(state_of(a, "p2") != "dead" for a in (a0, a1, a3))
        time.sleep(0.1)
    # SIGKILL: DEAD everywhere, its agent OFFLINE.
    p1.kill()
    assert until_blocking(lambda: all(state_of(a, "p1") == "dead" for a in (a0, a2, a3)), 10)
    assert until_blocking(lambda: all(get(a, "/v1/agents/k1")["status"] == "offline"
                             for a in (a0, a2, a3)), 5)
    # SIGTERM: a graceful leave, LEFT and not failed.
    p3.send_signal(signal.SIGTERM)
    assert p3.wait(10) == 0
    assert until_blocking(lambda: state_of(a0, "p3") == "left" and state_of(a2, "p3") == "left", 5)


def test_query_commands(cluster: dict[str, tuple[subprocess.Popen[str], str]]) -> None:
    _, a0 = cluster["p0"]
    post(a0, "/v1/agents", {"agent_id": "q1", "name": "Q", "runtime_id": "rt",
                            "capabilities": ["data analysis"]})
    run = [sys.executable, "-m", "gossipreg"]
    out = subprocess.run([*run, "members", "--node", a0], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and "NODE_ID" in out.stdout and "p3" in out.stdout
    out = subprocess.run([*run, "agents", "--node", a0, "--capability", "data", "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["agent_id"] == "q1"
    out = subprocess.run([*run, "members", "--node", "127.0.0.1:1"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0 and "cannot reach" in out.stderr
    out = subprocess.run([*run, "node", "--name", "x", "--bind", "nonsense"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "bad address" in out.stderr


def test_demo_runs_to_completion() -> None:
    out = subprocess.run([sys.executable, "-m", "gossipreg", "demo"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "[EVENT" in text and "AGENT_REGISTERED: code-agent" in text
    assert "'code': 1 found" in text
    assert "MEMBER_FAILED: runtime-1" in text and "declared DEAD after" in text
