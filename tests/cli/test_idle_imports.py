"""A running ``gossipreg node --embedder off`` that has joined and answered the harness's
requests (members, a registration, an agent) has not imported what only other requests,
other options or the CLI's other commands need: ``cryptography`` (the node signs through
the OpenSSL of Python's ssl module), ``prometheus_client`` (until ``/metrics`` is scraped),
the OpenAPI document, ARD, hybrid ranking, the router, the embedders. The process writes
its ``sys.modules`` when sent SIGUSR1 (the memory benchmark's wrapper installs the handler,
then runs the CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.bench.memory import WRAPPER  # runs the CLI; writes sys.modules on SIGUSR1
from tests.support import free_port, get_json, http_json, until_blocking

pytestmark = pytest.mark.network

NOT_IDLE = ["cryptography", "prometheus_client", "numpy", "gossipreg.io.api.openapi",
            "gossipreg.io.api.exposition", "gossipreg.core.search.ard",
            "gossipreg.core.search.hybrid", "gossipreg.core.search.vecindex",
            "gossipreg.io.route", "gossipreg.io.embed"]


class Node:
    def __init__(self, tmp: Path) -> None:
        self.addr = f"127.0.0.1:{free_port()}"
        self.dump = tmp / "modules.json"
        script = tmp / "wrapper.py"
        script.write_text(WRAPPER)
        cmd = [sys.executable, str(script), str(self.dump), "node", "--name", "idle", "--bind",
               self.addr, "--profile", "local", "--embedder", "off", "--data-dir",
               str(tmp / "data")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None
        assert "listening on" in self.proc.stdout.readline()

    def modules(self) -> set[str]:
        self.dump.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR1)
        assert until_blocking(self.dump.exists), "no sys.modules dump from the node"
        return set(json.loads(self.dump.read_text()))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    try:
        yield n
    finally:
        n.proc.send_signal(signal.SIGTERM)
        try:
            n.proc.wait(10)
        except subprocess.TimeoutExpired:
            n.proc.kill()
            n.proc.wait(5)


def _loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_an_idle_node_has_not_imported_what_it_does_not_use(node: Node) -> None:
    assert any(m["node_id"] == "idle" for m in get_json(node.addr, "/v1/members"))
    http_json(f"http://{node.addr}/v1/agents", {"agent_id": "k1", "name": "k1",
                                                "runtime_id": "bench",
                                                "capabilities": ["benchmark"]})
    assert get_json(node.addr, "/v1/agents/k1")["agent_id"] == "k1"
    modules = node.modules()
    assert "gossipreg.io.credentials.identity" in modules
    assert "gossipreg.io.credentials.ed25519" in modules
    assert [m for m in NOT_IDLE if _loaded(modules, m)] == []
    # What was left out comes with the first request that needs it.
    with urllib.request.urlopen(f"http://{node.addr}/metrics", timeout=5) as r:
        assert b"gossipreg_search_duration_seconds_bucket" in r.read()
    assert get_json(node.addr, "/v1/openapi.json")["openapi"].startswith("3.")
    modules = node.modules()
    assert {"prometheus_client", "gossipreg.io.api.openapi"} <= modules
    assert not _loaded(modules, "cryptography")


def test_a_missing_prometheus_client_still_fails_the_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # /metrics imports it at the first scrape; its absence is found when the node is made.
    from gossipreg import GossipNode, NodeConfig

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(ImportError, match="needs the prometheus_client package"):
        GossipNode("m", config=NodeConfig.local(heartbeat_timeout=None), sign=False)
