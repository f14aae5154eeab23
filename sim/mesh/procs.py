"""Child processes of the harness: started in their own process groups, their output kept in a
log file each (so a child that dies can be reported with its own last words), sampled from
/proc, and always cleaned up (at exit, on SIGINT/SIGTERM, or by kill -9 when they do not go).

Ports come from a :class:`PortPool`: outside the kernel's ephemeral range (so no outgoing
connection of the nodes or of the harness can hold one), tested free on TCP and UDP, and never
handed out twice by one harness."""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence

__all__ = ["Children", "PortPool", "ProcessDied", "accepts", "cpu_seconds", "rss_mb", "uss_mb"]

_TICKS = os.sysconf("SC_CLK_TCK")
_POLL = 0.01


class ProcessDied(Exception):
    """A child the harness still needs has exited (or never became ready); the message carries
    the tail of its own output. Not a RuntimeError, so the measurement loops, which retry on
    RuntimeError, let it through at once."""


def _port_range() -> range:
    """The ports the pool picks from: the larger gap beside the ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    best = max(range(10000, lo), range(hi + 1, 65536), key=len)
    return best if len(best) >= 1000 else range(10000, 65536)


class PortPool:
    """Free ports for the harness's children. A port is tested by binding it (TCP, and UDP
    when asked: a Serf bind port is both) and handed out once only; the children bind it a
    moment later. Nothing outside this pool is given a port from its range by the kernel (it
    lies outside the ephemeral range), so the window between the test and the child's bind is
    open only to a process that names that very port itself."""

    def __init__(self, candidates: Iterable[int] | None = None) -> None:
        ports = list(candidates) if candidates is not None else list(_port_range())
        if candidates is None:  # a random start: two harnesses on one host rarely overlap
            k = random.SystemRandom().randrange(len(ports))
            ports = ports[k:] + ports[:k]
        self._ports = iter(ports)
        self.used: set[int] = set()

    def take(self, host: str = "127.0.0.1", udp: bool = False) -> int:
        for port in self._ports:
            if port in self.used:
                continue
            self.used.add(port)
            if _bindable(host, port, udp):
                return port
        raise RuntimeError("no free port left in the harness's range")


def _bindable(host: str, port: int, udp: bool) -> bool:
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    try:
        for kind in kinds:
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind((host, port))
    except OSError:
        return False
    return True


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def uss_mb(pid: int) -> float:
    """Memory only this process holds (private pages, clean and dirty), in MB."""
    kb = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kb += int(line.split()[1])
    return kb / 1024


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Children:
    """Every process this harness starts; ``close()`` (also run at exit and on signals) ends
    them all. Each child's stdout and stderr go to one log file; ``check()`` raises
    :class:`ProcessDied` (with that output) for a child that exited without being told to."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.labels: dict[subprocess.Popen[bytes], str] = {}
        self.logs: dict[subprocess.Popen[bytes], str] = {}
        self.stopped: set[subprocess.Popen[bytes]] = set()  # killed or terminated on purpose
        self.logdir = tempfile.mkdtemp(prefix="sim-mesh-")
        atexit.register(self.close)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.close()
        raise SystemExit(128 + signum)

    def start(self, cmd: Sequence[str], ready: str | Callable[[], bool] | None = None,
              timeout: float = 20.0, label: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd``. With ``ready`` (a text its output must show, or a predicate), wait
        until it is ready; raise :class:`ProcessDied` if it exits first or is not ready within
        ``timeout`` seconds (then it is stopped)."""
        label = label or os.path.basename(cmd[0])
        log = os.path.join(self.logdir, f"{len(self.procs):03d}-{label}.log")
        with open(log, "wb") as out:
            p = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        self.procs.append(p)
        self.labels[p] = label
        self.logs[p] = log
        if ready is None:
            return p
        is_ready = ready if callable(ready) else lambda: ready in self.output(p)
        deadline = time.monotonic() + timeout
        while not is_ready():
            if p.poll() is not None:
                raise ProcessDied(self.describe(p, "exited before it was ready"))
            if time.monotonic() > deadline:
                self.signal(p, signal.SIGKILL)
                p.wait(5)
                raise ProcessDied(self.describe(p, f"not ready after {timeout} s"))
            time.sleep(_POLL)
        return p

    def output(self, p: subprocess.Popen[bytes]) -> str:
        try:
            with open(self.logs[p], "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, KeyError):
            return ""

    def describe(self, p: subprocess.Popen[bytes], what: str, lines: int = 20) -> str:
        code = p.poll()
        status = "" if code is None else (f", exit code {code}" if code >= 0
                                          else f", killed by signal {-code}")
        tail = self.output(p).rstrip().splitlines()[-lines:]
        body = "\n".join(f"    {t}" for t in tail) if tail else "    (no output)"
        return (f"{self.labels.get(p, '?')} (pid {p.pid}) {what}{status}; "
                f"its last output:\n{body}")

    def check(self, procs: Iterable[subprocess.Popen[bytes]] | None = None) -> None:
        """Raise :class:`ProcessDied` for the first of ``procs`` (default: all) that has
        exited although the harness neither killed nor terminated it."""
        for p in self.procs if procs is None else procs:
            if p not in self.stopped and p.poll() is not None:
                raise ProcessDied(self.describe(p, "exited"))

    def signal(self, p: subprocess.Popen[bytes], sig: int) -> None:
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.stopped.add(p)
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
        shutil.rmtree(self.logdir, ignore_errors=True)
