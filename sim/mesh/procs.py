"""Child processes of the harness: started in their own process groups, sampled from /proc,
and always cleaned up (at exit, on SIGINT/SIGTERM, or by kill -9 when they do not go)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence

__all__ = ["Children", "cpu_seconds", "free_port", "rss_mb"]

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Children:
    """Every process this harness starts; ``close()`` (also run at exit and on signals) ends
    them all."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        atexit.register(self.close)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.close()
        raise SystemExit(128 + signum)

    def start(self, cmd: Sequence[str], ready: str | None = None,
              timeout: float = 20.0) -> subprocess.Popen[bytes]:
        """Start ``cmd``; with ``ready``, wait until that text appears on its stdout."""
        p = subprocess.Popen(list(cmd), stdout=subprocess.PIPE if ready else subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        if ready is not None:
            assert p.stdout is not None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = p.stdout.readline().decode(errors="replace")
                if ready in line:
                    break
                if not line and p.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited before it was ready")
            else:
                raise RuntimeError(f"{cmd[0]} not ready after {timeout} s")
        return p

    @staticmethod
    def signal(p: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                self.signal(p, signal.SIGCONT)
                self.signal(p, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal(p, signal.SIGKILL)
                p.wait(5)
        self.procs.clear()
