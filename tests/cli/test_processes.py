"""Real OS processes running ``gossipreg node`` on loopback: SIGKILL is detected, a short SIGSTOP
is not a failure, SIGTERM leaves gracefully; the query commands and the demo work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import free_port, get_json, http_json, until_blocking

pytestmark = pytest.mark.network


get = get_json


def post(addr: str, path: str, body: dict[str, Any]) -> Any:
    return http_json(f"http://{addr}{path}", body)




class EventLog:
    """A node's server-sent events, read on a thread from now until :meth:`close`."""

    def __init__(self, addr: str) -> None:
        self.events: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(addr,), daemon=True)
        self._thread.start()
        assert self._open.wait(5), f"no event stream from {addr}"

    def _run(self, addr: str) -> None:
        try:
            with httpx.stream("GET", f"http://{addr}/v1/events", timeout=None) as r:
                self._open.set()
                current: dict[str, str] = {}
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if not line:
                        if current:
                            self.events.append(current)
                        current = {}
                    elif ":" in line:
                        field, _, value = line.partition(":")
                        current[field] = value.strip()
        except httpx.HTTPError:
            return  # the node went away (the test kills it later): the log ends there

    def close(self) -> None:
        self._stop.set()
        self._thread.join(0)


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
    # SIGSTOP shorter than the suspicion timeout: never DEAD anywhere. Each peer's event
    # stream is read from before the pause until p2 is ALIVE at one incarnation on every
    # peer: from then no peer holds a suspicion of p2, so a verdict could only have come
    # before, and it would be in the stream.
    peers = (a0, a1, a3)
    streams = [EventLog(a) for a in peers]
    try:
        os.kill(p2.pid, signal.SIGSTOP)
        time.sleep(0.5)  # the fault itself: a pause shorter than the suspicion timeout
        os.kill(p2.pid, signal.SIGCONT)

        def settled() -> bool:
            rows = [next(m for m in get(a, "/v1/members") if m["node_id"] == "p2")
                    for a in peers]
            return (all(r["state"] == "alive" for r in rows)
                    and len({r["incarnation"] for r in rows}) == 1)

        assert until_blocking(settled, 10)
        # The streams were live all along: a write on p2 now reaches each of them.
        post(a2, "/v1/agents", {"agent_id": "after-pause", "name": "M", "runtime_id": "rt2",
                                "capabilities": ["x"]})
        assert until_blocking(lambda: all(any('"after-pause"' in e.get("data", "")
                                              for e in s.events) for s in streams), 10)
    finally:
        for s in streams:
            s.close()
    failed = [e for s in streams for e in s.events
              if e.get("event") == "member_failed" and '"p2"' in e.get("data", "")]
    assert not failed, failed
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
