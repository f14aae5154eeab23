"""How the multi-process harness (sim/mesh run) starts its nodes, without a measurement run:
the Serf seed listens before any agent joins it, a node that dies is reported with its own
output (not a later "RPC unreachable"), and ports are never handed out twice. The Serf agents
here are a stand-in script with Serf's start-up behaviour (a refused startup join exits 1)."""

from __future__ import annotations

import signal
import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.mesh.drivers import GossipregDriver, SerfDriver
from sim.mesh.measure import _until
from sim.mesh.procs import Children, PortPool, ProcessDied, accepts

pytestmark = pytest.mark.network

# Gossip port first, then the startup join (a refusal ends the agent, as Serf's does), then
# the RPC port. FAKE_SERF_DELAY: a slow start; FAKE_SERF_FAIL: a join that is refused.
FAKE_SERF = """\
import os, socket, sys, time
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[2:] if "=" in a)
def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)
print("==> Starting Serf agent...", flush=True)
time.sleep(float(os.environ.get("FAKE_SERF_DELAY", "0")))
gossip = socket.create_server(addr(args["bind"]))
if "join" in args:
    try:
        if os.environ.get("FAKE_SERF_FAIL"):
            raise ConnectionRefusedError("connect: connection refused")
        socket.create_connection(addr(args["join"]), timeout=5).close()
    except OSError as e:
        print(f"==> 1 error occurred:\\n\\t* Failed to join {args['join']}: {e}", flush=True)
        sys.exit(1)
rpc = socket.create_server(addr(args["rpc-addr"]))
print("==> Serf agent running!", flush=True)
while True:
    time.sleep(60)
"""


@pytest.fixture
def children() -> Iterator[Children]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    c = Children()
    try:
        yield c
    finally:
        c.close()
        for s, h in saved.items():
            signal.signal(s, h)


@pytest.fixture
def fake_serf(tmp_path: Path) -> str:
    path = tmp_path / "serf"
    path.write_text(f"#!{sys.executable}\n{FAKE_SERF}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _settled(d: SerfDriver, i: int, timeout: float = 15.0) -> None:
    """Wait until agent ``i`` answers on its RPC port or has exited."""
    deadline = time.monotonic() + timeout
    while not accepts("127.0.0.1", d.rpcs[i].port) and d.procs[i].poll() is None:
        assert time.monotonic() < deadline, f"serf agent {i} neither up nor gone"
        time.sleep(0.01)


def test_serf_seed_listens_before_the_others_join_it(
        children: Children, fake_serf: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = SerfDriver(children, fake_serf)
    monkeypatch.setenv("FAKE_SERF_DELAY", "0.5")  # a seed slow to open its ports
    d.start(0)
    assert accepts("127.0.0.1", d.rpcs[0].port)  # start(0) returned only once it listens
    monkeypatch.delenv("FAKE_SERF_DELAY")
    for i in (1, 2, 3):
        d.start(i)
    for i in (1, 2, 3):
        _settled(d, i)
    d.check()  # every startup join found the seed listening: nobody exited
    assert all(p.poll() is None for p in d.procs)


async def test_a_dead_serf_agent_is_reported_with_its_output(
        children: Children, fake_serf: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = SerfDriver(children, fake_serf)
    d.start(0)
    monkeypatch.setenv("FAKE_SERF_FAIL", "1")
    d.start(1)
    d.procs[1].wait(15)
    with pytest.raises(ProcessDied, match=r"(?s)s1 .*exit code 1.*Failed to join"):
        d.check()
    # A query of the dead agent says so at once, instead of "RPC unreachable" after retries.
    with pytest.raises(ProcessDied, match="Failed to join"):
        await d.states(1)
    d.children.check([d.procs[0]])  # the seed is fine
    await d.close()


async def test_measurement_waits_end_when_a_node_dies() -> None:
    def check() -> None:
        raise ProcessDied("g3 (pid 1) exited, exit code 1; its last output: ...")

    async def never() -> bool:
        return False

    with pytest.raises(ProcessDied):
        await _until(never, 60, check)


def test_a_child_that_exits_before_ready_is_reported(children: Children) -> None:
    cmd = [sys.executable, "-c", "print('bind: address already in use'); raise SystemExit(3)"]
    with pytest.raises(ProcessDied, match=r"(?s)exited before it was ready, exit code 3.*"
                                          r"address already in use"):
        children.start(cmd, ready="listening on", label="n0")


def test_children_killed_on_purpose_are_not_failures(children: Children) -> None:
    p = children.start([sys.executable, "-c", "import time; time.sleep(60)"])
    children.signal(p, signal.SIGKILL)
    p.wait(10)
    children.check()


def test_ports_are_outside_the_ephemeral_range_and_never_repeated() -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = (int(x) for x in f.read().split())
    pool = PortPool()
    ports = [pool.take(udp=True) for _ in range(20)]
    assert len(set(ports)) == 20
    assert not any(lo <= p <= hi for p in ports)
    a, b = ports[:2]
    with socket.create_server(("127.0.0.1", a)):
        assert PortPool([a, b]).take() == b  # a port in use is skipped


class _HeldFirst(PortPool):
    """Hands out a port that is in use first: the race of a port taken between the pool's
    test and the node's bind."""

    def __init__(self, held: int) -> None:
        super().__init__()
        self.held: int | None = held

    def take(self, host: str = "127.0.0.1", udp: bool = False) -> int:
        if self.held is not None:
            port, self.held = self.held, None
            return port
        return super().take(host, udp)


async def test_gossipreg_node_that_cannot_bind_is_started_on_another_port(
        children: Children) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        d = GossipregDriver(children, ports=_HeldFirst(port))
        d.start(0)
        assert d.addrs[0] != f"127.0.0.1:{port}"
        d.check()
        # A node that dies on its own (not through the harness) is reported with its output.
        d.procs[0].send_signal(signal.SIGKILL)
        d.procs[0].wait(10)
        with pytest.raises(ProcessDied, match=r"(?s)g0 .*killed by signal 9.*listening on"):
            d.check()
        await d.close()
