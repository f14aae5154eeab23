"""Four emulated hosts (one network namespace each, on a bridge), every
node started with ``--bind 0.0.0.0:7946`` and no ``--advertise``, seeds given as one DNS name
with several addresses (``/etc/netns/<ns>/hosts``). One mesh, only routable addresses in every
member table, an agent registered on one host seen on all, a killed host detected.
Uses the harness's namespace helper (sim/mesh/netns.py); root with iproute2 and nftables."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from sim.mesh import netns
from tests.support import http_json, require_netns
from tests.support import until_blocking as until

require_netns("the multi-host test")

PORT = 7946
SEED_NAME = "seeds.mesh.test"
NOBODY = "198.18.0.99"  # inside the lab's subnet, held by no host


def get(addr: str, path: str) -> Any:
    return http_json(f"http://{addr}:{PORT}{path}", timeout=2)


def post(addr: str, path: str, body: dict[str, Any]) -> Any:
    return http_json(f"http://{addr}:{PORT}{path}", body, timeout=2)



def test_four_hosts_bound_everywhere_form_one_mesh_with_routable_addresses() -> None:
    with netns.NetLab(4, handle_signals=False) as lab:
        procs: list[subprocess.Popen[bytes]] = []
        addrs = [lab.addr(i) for i in range(4)]
        for i in range(4):
            # One name, two addresses: hosts 0 and 1 (each host skips its own). Host 3's name
            # first points at an address nobody has: it joins once the name is fixed, as
            # names are resolved again before every attempt.
            lab.set_hosts(i, {SEED_NAME: addrs[:2] if i < 3 else [NOBODY]})
            cmd = [sys.executable, "-m", "gossipreg", "node", "--name", f"h{i}",
                   "--bind", f"0.0.0.0:{PORT}", "--profile", "local"]
            if i > 0:
                cmd += ["--join", f"{SEED_NAME}:{PORT}"]
            procs.append(lab.popen(i, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for i, p in enumerate(procs):
            assert p.stdout is not None
            first = p.stdout.readline().decode()
            assert f"advertising {addrs[i]}:{PORT}" in first, first
        lab.enter_hub()
        try:
            want = {f"h{i}": f"{addrs[i]}:{PORT}" for i in range(4)}

            def tables_agree() -> bool:
                return all({m["node_id"]: m["address"] for m in get(a, "/v1/members")
                            if m["state"] == "alive"} == want for a in addrs)

            assert until(lambda: all(len(get(a, "/v1/members")) == 3 for a in addrs[:3]),
                         20.0)
            assert until(lambda: NOBODY in get(addrs[3], "/v1/health").get("reason", ""), 10.0)
            assert get(addrs[3], "/v1/health")["status"] == "joining"
            lab.set_hosts(3, {SEED_NAME: addrs[:2]})
            assert until(tables_agree, 20.0), [get(a, "/v1/members") for a in addrs]
            assert all(get(a, "/v1/health")["status"] == "ok" for a in addrs)
            post(addrs[2], "/v1/agents", {"agent_id": "coder", "capabilities": ["python"]})
            assert until(lambda: all(
                [v["agent_id"] for v in get(a, "/v1/agents?capability=python")] == ["coder"]
                for a in addrs), 10.0)
            procs[3].send_signal(signal.SIGKILL)
            procs[3].wait(5)
            assert until(lambda: all(
                {m["node_id"]: m["state"] for m in get(a, "/v1/members")}["h3"] == "dead"
                for a in addrs[:3]), 20.0)
        finally:
            lab.leave_hub()
            for p in procs:
                p.kill()
                p.wait(5)
