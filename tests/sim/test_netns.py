"""The namespace helper of the harness (sim/mesh/netns.py): hosts reach each other over the
bridge, nftables faults cut what they should and nothing else, the hub is exempt, and nothing
is left behind after a close, a signal or a crash. Root with iproute2 and nftables only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sim.mesh import netns
from tests.support import require_netns

require_netns("netns tests")

_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9000)); s.listen(); print("up", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""
_CLIENT = ("import socket, sys\n"
           "s = socket.create_connection((sys.argv[1], 9000), timeout=0.5)\n"
           "assert s.recv(2) == b'hi'")


def _ours() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(f"{netns.PREFIX}-{os.getpid()}-")]


def _reaches(lab: netns.NetLab, i: int, target: int) -> bool:
    return lab.run(i, [sys.executable, "-c", _CLIENT, lab.addr(target)], timeout=10
                   ).returncode == 0


def test_faults_cut_what_they_should_and_the_hub_is_exempt() -> None:
    with netns.NetLab(3, handle_signals=False) as lab:
        assert len(_ours()) == 4
        srv = lab.popen(0, [sys.executable, "-c", _SERVER, lab.addr(0)],
                        stdout=subprocess.PIPE)
        assert srv.stdout is not None and srv.stdout.readline().startswith(b"up")
        assert _reaches(lab, 1, 0) and _reaches(lab, 2, 0)
        lab.partition([[0], [1, 2]])
        assert not _reaches(lab, 1, 0) and not _reaches(lab, 2, 0)
        hub = lab.run("hub", [sys.executable, "-c", _CLIENT, lab.addr(0)])
        assert hub.returncode == 0, hub.stderr
        lab.heal()
        assert _reaches(lab, 1, 0)
        lab.partition_one_way(src=[2], dst=[0])  # 2's packets no longer reach 0
        assert not _reaches(lab, 2, 0) and _reaches(lab, 1, 0)
        lab.heal()
        lab.isolate(1)
        assert not _reaches(lab, 1, 0) and _reaches(lab, 2, 0)
        lab.set_loss(0.25)
        assert "numgen random mod 1000 < 250 drop" in lab.counters(2)
        lab.set_hosts(2, {"seed.mesh": [lab.addr(0), lab.addr(1)]})
        got = lab.run(2, ["getent", "ahostsv4", "seed.mesh"]).stdout
        assert lab.addr(0) in got and lab.addr(1) in got
    assert _ours() == []
    assert srv.wait(5) is not None  # killed with its namespace


def test_a_signal_tears_down_and_a_crashed_labs_leftovers_are_removed() -> None:
    code = ("import os, signal, sys, time\n"
            "from sim.mesh.netns import NetLab\n"
            "lab = NetLab(1)\n"
            "print(lab.tag, flush=True)\n"
            "time.sleep(60)\n")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None
        tag = p.stdout.readline().strip()
        assert tag.startswith(netns.PREFIX)
        p.send_signal(sig)
        p.wait(10)
        left = [n for n in netns._namespaces() if n.startswith(tag + "-")]
        if sig == signal.SIGTERM:
            assert left == []
        else:  # kill -9: nothing ran; the next start removes it
            assert len(left) == 2
            assert sorted(netns.remove_stale()) == sorted(left)
            assert [n for n in netns._namespaces() if n.startswith(tag + "-")] == []
