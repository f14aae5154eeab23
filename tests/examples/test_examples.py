"""The three pattern scripts run as subprocesses on a real mesh and show what they promise.
Without an LLM (Ollama pointed at a closed port, no OpenAI key) they take the skip path."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_script(name: str, env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["OLLAMA_HOST"] = f"http://127.0.0.1:{closed_port()}"
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, name], cwd=EXAMPLES, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_pattern_1_basic_coordination() -> None:
    out = run_script("1_basic_distributed_coordination.py")
    assert "LLM: none reachable" in out
    assert "✓ Registered 3 agents across 2 runtimes" in out
    assert re.search(r"\[EVENT\] RUNTIME_JOINED: runtime_1", out)
    assert "answered locally on runtime_2" in out and "- CodeAgent on runtime_1" in out
    assert "[skipped: no LLM configured]" in out
    assert "[EVENT] AGENT_HEARTBEAT" in out and "→ degraded" in out
    assert "[EVENT] RUNTIME_LEFT: runtime_2" in out


def test_pattern_2_capability_discovery() -> None:
    out = run_script("2_capability_discovery.py")
    assert "✓ Registered 4 specialized agents across 3 runtimes" in out
    assert "✓ Found: PythonExpert" in out and "Runtime: dev_runtime_1" in out
    assert "Found by description instead: DevOpsEngineer" in out
    assert "Found 0 ACTIVE agents" in out and "Found 1 DEGRADED agents" in out
    assert "Found 1 total agents" in out
    assert "concurrent searches" in out
    assert "RUNTIME_LEFT: ops_runtime_3" in out


def test_pattern_3_real_failure_failover_recovery() -> None:
    out = run_script("3_fault_tolerance.py")
    assert out.count("[EVENT] AGENT_HEARTBEAT") == 3
    m = re.search(r"Failure detected by gossip in ([0-9.]+) s: True", out)
    assert m and float(m.group(1)) > 0  # a measured figure (wall clock), reported, not judged
    assert "(prod_runtime_2 sees PrimaryAgent as offline)" in out
    # Tasks go over A2A to real a2a-sdk servers: a dead endpoint fails over, cools down,
    # and answers again after it is back.
    assert "✓ Task answered by PrimaryAgent over A2A" in out
    assert "attempt: PrimaryAgent -> unreachable" in out and "✓ Failed over to BackupAgent" in out
    assert "PrimaryAgent on this node's circuit breaker: open" in out
    assert "While it cools down PrimaryAgent is skipped: BackupAgent answered" in out
    assert "✓ PrimaryAgent answers again" in out
    assert "PrimaryAgent as this node saw it: 2 completed, 1 failed, 1 errors" in out
    assert "[prod_runtime_1] [skipped: no LLM configured]" in out
    assert "✓ Selected: BackupAgent" in out and "Task ran on prod_runtime_2 by BackupAgent" in out
    assert re.search(r"PrimaryAgent ACTIVE again after [0-9.]+ s: True", out)
    assert "(prod_runtime_3 sees PrimaryAgent as active)" in out
    assert "→ unhealthy" in out and "✓ 2 healthy agents available" in out
