"""Real processes: a ``gossipreg node --data-dir`` killed with SIGKILL and started again brings
the agents registered through it back on every peer within a round trip of its join, without
a deregistration anywhere; a node without --data-dir comes back empty, as before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, get_json, http_json, until_blocking

pytestmark = pytest.mark.network


get = get_json


def position(addr: str) -> str:
    with urllib.request.urlopen(f"http://{addr}/v1/agents", timeout=5) as r:
        return str(r.headers["X-Gossipreg-Event-Id"])


def events_since(addr: str, since: str) -> list[dict[str, Any]]:
    """The events a node numbered after ``since`` (replayed from its ring; the stream is read
    until it has been quiet for half a second)."""
    out: list[dict[str, Any]] = []
    try:
        with urllib.request.urlopen(f"http://{addr}/v1/events?since={since}", timeout=0.5) as r:
            for raw in r:
                if raw.startswith(b"data: "):
                    out.append(json.loads(raw[6:]))
    except TimeoutError:
        pass
    return out


class Nodes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, addr: str, *extra: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "gossipreg", "node", "--name", name, "--bind", addr,
               "--profile", "local", "--heartbeat-timeout", "off", *extra]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             start_new_session=True)
        assert p.stdout is not None
        assert "listening on" in p.stdout.readline()
        self.procs[name] = p
        return p

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    n = Nodes(tmp_path)
    try:
        yield n
    finally:
        n.close()


def seen(addr: str, aid: str) -> dict[str, Any] | None:
    return next((a for a in get(addr, "/v1/agents") if a["agent_id"] == aid), None)


@pytest.mark.parametrize("data_dir", [True, False], ids=["with-data-dir", "without"])
def test_a_killed_sidecar_comes_back_with_its_agents(nodes: Nodes, tmp_path: Path,
                                                     data_dir: bool) -> None:
    a, b, c = (f"127.0.0.1:{free_port()}" for _ in range(3))
    keep = ["--data-dir", str(tmp_path / "c-data")] if data_dir else []
    nodes.start("a", a)
    nodes.start("b", b, "--join", a)
    nodes.start("c", c, "--join", a, *keep)
    for aid in ("coder-1", "fx-desk"):
        http_json(f"http://{c}/v1/agents", {"agent_id": aid, "capabilities": ["python"]})
        http_json(f"http://{c}/v1/agents/{aid}/heartbeat", {})
    assert until_blocking(lambda: all((v := seen(p, "fx-desk")) is not None
                                      and v["heartbeat_count"] == 1 for p in (a, b)), 10)
    if data_dir:  # agents.json is written a batch (50 ms) after a change, and over datagrams
        # the peers may see the agents sooner than that: the kill waits for the file
        saved = tmp_path / "c-data" / "agents.json"
        assert until_blocking(lambda: saved.exists() and all(
            aid in saved.read_text() for aid in ("coder-1", "fx-desk")), 10)
    marks = {p: position(p) for p in (a, b)}
    nodes.kill("c")
    p = nodes.start("c", c, "--join", a, *keep)
    assert p.stdout is not None and "joined the mesh" in p.stdout.readline()
    if not data_dir:  # as before: the agents are gone until their runtime registers them
        assert until_blocking(lambda: all(seen(x, "coder-1") is None for x in (a, b, c)), 10)
        return
    # Back on every peer from the new generation (its heartbeat count starts again), without
    # a deregistered/registered churn (checked below). On an idle machine this takes a round
    # trip of the join (under a push-pull period, 5 s here); the bound allows a loaded one.
    assert until_blocking(lambda: all(
        (v := seen(x, aid)) is not None and v["heartbeat_count"] == 0
        and v["status"] == "active" for x in (a, b, c) for aid in ("coder-1", "fx-desk")), 15.0)
    for x in (a, b):
        churn = [e for e in events_since(x, marks[x])
                 if e["event_type"] in ("agent_deregistered", "agent_registered")]
        assert churn == [], [(x, e["event_type"], e["agent_id"], e.get("metadata")) for e in churn]
