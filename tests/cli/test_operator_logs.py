"""Operator logs from real processes: ``gossipreg node --log-level info`` prints one line when a
kill -9ed peer is suspected and one when it is declared failed, each with its name and
address; ``gossipreg monitor`` streams the same lines from a node's events."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import PipeLines, http_json, until_blocking

pytestmark = pytest.mark.network


def free_addr() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[dict[str, tuple[subprocess.Popen[str], str, PipeLines]]]:
    procs: dict[str, tuple[subprocess.Popen[str], str, PipeLines]] = {}
    try:
        seed = None
        for name in ("p0", "p1", "p2"):
            addr = free_addr()
            cmd = [sys.executable, "-m", "gossipreg", "node", "--name", name, "--bind", addr,
                   "--profile", "local", "--log-level", "info",
                   *(["--join", seed] if seed else [])]
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True, start_new_session=True)
            assert p.stderr is not None
            procs[name] = (p, addr, PipeLines(p.stderr))
            seed = seed or addr
        addrs = [a for _, a, _ in procs.values()]
        assert until_blocking(lambda: all(
            sum(m["state"] == "alive" for m in http_json(f"http://{a}/v1/members")) == 3
            for a in addrs), 15)
        yield procs
    finally:
        for p, _, _ in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def test_a_killed_peer_is_one_suspect_line_then_one_failed_line(
        mesh: dict[str, tuple[subprocess.Popen[str], str, PipeLines]]) -> None:
    _, a0, log0 = mesh["p0"]
    _, _, log1 = mesh["p1"]
    victim, a2, _ = mesh["p2"]
    assert until_blocking(lambda: bool(log1.having("joined the mesh: ")), 5)
    assert log0.having(f"member joined: p2 at {a2}")
    monitor = subprocess.Popen(
        [sys.executable, "-m", "gossipreg", "monitor", "--node", a0],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert monitor.stdout is not None
    seen = PipeLines(monitor.stdout)
    try:
        # The monitor is connected once it shows an event made after it started: register
        # agents until it shows one.
        probes = iter(range(100))

        def connected() -> bool:
            if seen.having("agent registered: probe-"):
                return True
            http_json(f"http://{a0}/v1/agents", {"agent_id": f"probe-{next(probes)}"})
            return bool(until_blocking(lambda: bool(seen.having("agent registered")), 0.3))

        assert until_blocking(connected, 15)
        victim.kill()
        assert until_blocking(lambda: bool(log0.having(f"member failed: p2 at {a2}")), 15)
        suspect = log0.having(f"member suspect: p2 at {a2}")
        failed = log0.having(f"member failed: p2 at {a2}")
        # One failed line; a suspect line before it (a loaded machine may also show an earlier
        # suspicion that p2 refuted before it was killed: one line per transition, no repeats).
        assert len(failed) == 1 and suspect, log0.lines
        assert log0.lines.index(suspect[0]) < log0.lines.index(failed[0]), log0.lines
        assert " gossipreg.mesh INFO " in suspect[0] and " gossipreg.mesh INFO " in failed[0]
        assert until_blocking(lambda: bool(seen.having(f"INFO member failed: p2 at {a2}")), 5)
        assert len(seen.having(f"INFO member failed: p2 at {a2}")) == 1, seen.lines
        assert seen.having(f"INFO member suspect: p2 at {a2}"), seen.lines
    finally:
        if monitor.poll() is None:
            monitor.kill()
        monitor.wait(5)
