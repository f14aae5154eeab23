"""A running ``gossipreg node --embedder off`` that has joined and answered the harness's
requests (members, a registration, an agent) has not imported what only other requests,
other options or the CLI's other commands need: ``cryptography`` (the node signs through
the OpenSSL of Python's ssl module), ``prometheus_client`` (until ``/metrics`` is scraped),
the OpenAPI document and its answers' models, ARD (its routes and bodies), the batch and admin
routes, card parsing, selection, hybrid ranking, the router, the embedders, the CLI's client
commands, key files, TLS and publisher keys (options this node was not given), the page's files
(until ``/ui`` is asked), without a data directory its persistence, without a config file
``tomllib``, and ``importlib.metadata`` (with which pydantic looks its plugins up when it builds
its first validator: NodeConfig and a registration of plain values are checked without one).
The process writes its ``sys.modules`` when sent SIGUSR1 (the memory benchmark's wrapper
installs the handler, then runs the CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
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
            "gossipreg.io.route", "gossipreg.io.embed",
            # issue 28 item 5, second round: each at its first use only
            "gossipreg.cli.client", "gossipreg.cli.commands", "gossipreg.cli.search",
            "gossipreg.cli.route", "gossipreg.cli.mcp", "gossipreg.cli.admin",
            "gossipreg.io.api.ard", "gossipreg.io.api.ard_models", "gossipreg.io.api.answers",
            "gossipreg.io.api.batch", "gossipreg.io.api.admin", "gossipreg.core.route",
            "gossipreg.core.directory.cards", "gossipreg.core.directory.card_verdicts",
            "gossipreg.io.credentials.keys", "gossipreg.io.credentials.publishers",
            "gossipreg.io.net.tls", "importlib.resources.readers",
            # round 3: NodeConfig and a plain registration's body are checked without
            # building a pydantic validator, so none is built, nor are plugins looked up
            "importlib.metadata", "pydantic.plugin._loader",
            "tomllib"]  # a node given no config file


class Node:
    def __init__(self, tmp: Path, data_dir: bool = True) -> None:
        self.addr = f"127.0.0.1:{free_port()}"
        self.dump = tmp / "modules.json"
        script = tmp / "wrapper.py"
        script.write_text(WRAPPER)
        cmd = [sys.executable, str(script), str(self.dump), "node", "--name", "idle", "--bind",
               self.addr, "--profile", "local", "--embedder", "off",
               *(["--data-dir", str(tmp / "data")] if data_dir else [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None
        assert "listening on" in self.proc.stdout.readline()

    def modules(self) -> set[str]:
        self.dump.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR1)
        assert until_blocking(self.dump.exists), "no sys.modules dump from the node"
        return set(json.loads(self.dump.read_text()))


@pytest.fixture(params=[True, False], ids=["data-dir", "no-data-dir"])
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Node]:
    n = Node(tmp_path, data_dir=request.param)
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
    assert ("gossipreg.io.persist" in modules) == ("--data-dir" in node.proc.args)
    # What was left out comes with the first request that needs it.
    with urllib.request.urlopen(f"http://{node.addr}/metrics", timeout=5) as r:
        assert b"gossipreg_search_duration_seconds_bucket" in r.read()
    assert get_json(node.addr, "/v1/openapi.json")["openapi"].startswith("3.")
    modules = node.modules()
    assert {"prometheus_client", "gossipreg.io.api.openapi"} <= modules
    assert not _loaded(modules, "cryptography")


def test_what_a_node_left_out_comes_with_its_first_request(tmp_path: Path) -> None:
    n = Node(tmp_path, data_dir=False)
    try:
        addr = n.addr
        assert get_json(addr, "/.well-known/ard.json")  # ARD: its routes and document
        found = http_json(f"http://{addr}/ard/v1/search", {"query": {"text": "x"}})
        assert found["results"] == []
        batch = http_json(f"http://{addr}/v1/agents:batch", {"agents": [
            {"agent_id": "b1", "name": "b1", "capabilities": ["x"]}]})
        assert batch["registered"] == 1
        card = {"name": "Carded", "description": "an A2A card", "skills": [
            {"id": "s", "name": "skill", "description": "does x", "tags": ["t"]}]}
        made = http_json(f"http://{addr}/v1/agents", {"agent_id": "c1", "card": card})
        assert made["name"] == "Carded" and "t" in made["tags"]
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token: admin refuses
            http_json(f"http://{addr}/v1/admin/reload-keys", {})
        assert refused.value.code == 403
        with urllib.request.urlopen(f"http://{addr}/ui", timeout=5) as r:
            assert b"<html" in r.read().lower()
        with pytest.raises(urllib.error.HTTPError) as bad:  # a parameter: its model is built
            get_json(addr, "/v1/members?state=nonsense")
        assert bad.value.code == 400
        modules = n.modules()
        assert {"gossipreg.io.api.ard", "gossipreg.io.api.ard_models", "gossipreg.io.api.batch",
                "gossipreg.io.api.admin", "gossipreg.core.directory.cards",
                "gossipreg.core.directory.card_verdicts",
                "importlib.metadata"} <= modules  # the card's body: pydantic's validator
    finally:
        n.proc.send_signal(signal.SIGTERM)
        n.proc.wait(10)


def test_a_missing_prometheus_client_still_fails_the_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # /metrics imports it at the first scrape; its absence is found when the node is made.
    from gossipreg import GossipNode, NodeConfig

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(ImportError, match="needs the prometheus_client package"):
        GossipNode("m", config=NodeConfig.local(heartbeat_timeout=None), sign=False)
