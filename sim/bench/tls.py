"""What TLS costs a mesh of ``gossipreg node`` processes on loopback: idle CPU, idle bytes and
propagation, with TLS off and on, in the same run; with ``--peer serf``, Serf agents on the same
hosts beside them, without and with Serf's gossip encryption (``-encrypt``, AES-GCM under a
shared key), idle CPU and wire bytes measured the same way.

    python -m sim.bench.tls [--nodes 4] [--idle-seconds 10] [--reps 5] [--profile local]
                            [--peer serf]

Nodes run as the harness runs them (``--embedder off``) and sign as every node does: in TLS
mode each certificate is an Ed25519 one that names its node (SAN URI ``gossipreg://<cluster>/
<name>``), and its key is the node's identity key (``--identity-file``), as the mesh-CA setup
of docs/design/trust.md prescribes.

Per node: CPU ms/s from /proc/<pid>/stat, gossip frame bytes per second from /metrics, and,
with root, iproute2 and nftables, wire bytes per second: each node then runs on its own emulated
host (sim/mesh/netns.py) and its interface's transmit counter counts every byte it sends, IP,
TCP and TLS included (the harness's own queries come from the hub and are counted too, equally
in both modes). Propagation: an agent registered on node 0
until every node lists it (median of ``reps``). Certificates come from a CA made with the
openssl command in a temporary folder. Prints one line per mode and the TLS/plain ratios.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from gossipreg.io.credentials.identity import name_uri

_TICK = os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wire(lab: Any, i: int) -> int:
    """Bytes host ``i``'s interface has sent (0 on loopback, where nothing is per host)."""
    if lab is None:
        return 0
    out = subprocess.run(["ip", "-n", lab.ns(i), "-j", "-s", "link", "show", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)[0]["stats64"]["tx"]["bytes"])


def _cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / _TICK


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certs(folder: Path, ips: list[str]) -> tuple[Path, list[tuple[Path, Path]]]:
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-subj", "/CN=bench CA", "-keyout", str(ca_key),
             "-out", str(ca), "-addext", "basicConstraints=critical,CA:TRUE")
    out = []
    for i, ip in enumerate(ips):
        ext = folder / f"ext{i}"
        ext.write_text(f"subjectAltName=IP:{ip},URI:{name_uri('gossipreg', f'n{i}')}\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
        cert, key, csr = folder / f"n{i}.pem", folder / f"n{i}.key", folder / f"n{i}.csr"
        _openssl("req", "-newkey", "ed25519", "-nodes",
                 "-subj", f"/CN=n{i}", "-keyout", str(key), "-out", str(csr))
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))
        out.append((cert, key))
    return ca, out


class Mesh:
    def __init__(self, n: int, profile: str, tls: tuple[Path, list[tuple[Path, Path]]] | None,
                 lab: Any = None) -> None:
        self.lab = lab
        self.addrs = ([f"{lab.addr(i)}:7946" for i in range(n)] if lab is not None
                      else [f"127.0.0.1:{_port()}" for _ in range(n)])
        self.ctx = ssl.create_default_context(cafile=str(tls[0])) if tls else None
        self.scheme = "https" if tls else "http"
        self.procs: list[subprocess.Popen[str]] = []
        for i, addr in enumerate(self.addrs):
            cmd = [sys.executable, "-m", "gossipreg", "node", "--name", f"n{i}", "--bind", addr,
                   "--profile", profile, "--embedder", "off"]
            if i:
                cmd += ["--join", self.addrs[0]]
            if tls:
                cmd += ["--tls-cert", str(tls[1][i][0]), "--tls-key", str(tls[1][i][1]),
                        "--tls-ca", str(tls[0]), "--identity-file", str(tls[1][i][1])]
            if lab is not None:
                p: subprocess.Popen[str] = lab.popen(i, cmd, stdout=subprocess.PIPE,
                                                     stderr=subprocess.DEVNULL, text=True)
            else:
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
            assert p.stdout is not None
            p.stdout.readline()
            self.procs.append(p)

    def get(self, i: int, path: str) -> Any:
        url = f"{self.scheme}://{self.addrs[i]}{path}"
        with urllib.request.urlopen(url, timeout=5, context=self.ctx) as r:
            body = r.read().decode()
        return body if path == "/metrics" else json.loads(body)

    def post(self, i: int, path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(f"{self.scheme}://{self.addrs[i]}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5, context=self.ctx).read()

    def wait(self, pred: Any, timeout: float = 30.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                if pred():
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("timed out")

    def sample(self, start: bool) -> list[tuple[float, int, float]]:
        """Per node: (cpu seconds, wire bytes sent, frame bytes sent). The wire counter is read
        after the node's /metrics answer at the window's start and before it at its end, so no
        answer of the harness's falls inside the window."""
        out = []
        for i, p in enumerate(self.procs):
            metrics = self.get(i, "/metrics") if start else ""
            wire = _wire(self.lab, i)
            cpu = _cpu(p.pid)
            metrics = metrics or self.get(i, "/metrics")
            sent = float(re.search(r"^gossipreg_sent_bytes_total (\S+)", metrics,
                                   re.M).group(1))  # type: ignore[union-attr]
            out.append((cpu, wire, sent))
        return out

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                if self.lab is None:
                    os.killpg(p.pid, signal.SIGKILL)
                else:
                    p.kill()
            p.wait(5)


def measure(n: int, profile: str, idle: float, reps: int,
            tls: tuple[Path, list[tuple[Path, Path]]] | None, lab: Any) -> dict[str, float]:
    mesh = Mesh(n, profile, tls, lab)
    try:
        join = mesh.wait(lambda: all(sum(m["state"] == "alive" for m in mesh.get(i, "/v1/members"))
                                     == n for i in range(n)))
        time.sleep(2.0)  # let the join's exchanges settle
        a = mesh.sample(start=True)
        t0 = time.monotonic()
        time.sleep(idle)
        b = mesh.sample(start=False)
        dt = time.monotonic() - t0
        cpu = statistics.mean((y[0] - x[0]) / dt * 1000 for x, y in zip(a, b, strict=True))
        wire = statistics.mean((y[1] - x[1]) / dt for x, y in zip(a, b, strict=True))
        frames = statistics.mean((y[2] - x[2]) / dt for x, y in zip(a, b, strict=True))
        props = []
        for r in range(reps):
            aid = f"bench-{r}"
            t = time.monotonic()
            mesh.post(0, "/v1/agents", {"agent_id": aid})
            mesh.wait(lambda aid=aid: all(
                any(v["agent_id"] == aid for v in mesh.get(i, "/v1/agents")) for i in range(n)))
            props.append(time.monotonic() - t)
        res = {"join_s": join, "idle_cpu_ms_per_s": cpu, "idle_frame_bytes_per_s": frames,
               "propagation_s": statistics.median(props)}
        if lab is not None:
            res["idle_wire_bytes_per_s"] = wire
        return res
    finally:
        mesh.close()


def measure_serf(binary: str, n: int, idle: float, encrypt: bool, lab: Any) -> dict[str, float]:
    """Serf agents (LAN profile) on the same hosts: join time, idle CPU and wire bytes; with
    ``encrypt``, every gossip packet under one shared 32-byte key (``-encrypt``)."""
    ips = [lab.addr(i) if lab is not None else "127.0.0.1" for i in range(n)]
    ports = [(7946, 7373) if lab is not None else (_port(), _port()) for _ in range(n)]
    key = base64.b64encode(os.urandom(32)).decode()
    procs: list[subprocess.Popen[bytes]] = []

    def members(i: int) -> int:
        out = subprocess.run([binary, "members", f"-rpc-addr={ips[i]}:{ports[i][1]}",
                              "-status=alive"], capture_output=True, text=True, timeout=5)
        return len(out.stdout.splitlines()) if out.returncode == 0 else -1

    try:
        t0 = time.monotonic()
        for i in range(n):
            cmd = [binary, "agent", f"-node=s{i}", f"-bind={ips[i]}:{ports[i][0]}",
                   f"-rpc-addr={ips[i]}:{ports[i][1]}", "-log-level=err"]
            if encrypt:
                cmd.append(f"-encrypt={key}")
            if i:  # a Serf agent whose startup join is refused exits: the seed listens first
                cmd.append(f"-join={ips[0]}:{ports[0][0]}")
            if lab is not None:
                p: subprocess.Popen[bytes] = lab.popen(i, cmd, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL)
            else:
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
            procs.append(p)
            if i == 0:
                deadline = time.monotonic() + 10
                while members(0) < 1:
                    if p.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the serf seed did not start")
                    time.sleep(0.05)
        deadline = time.monotonic() + 30
        while not all(members(i) == n for i in range(n)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("serf agents did not converge")
            time.sleep(0.05)
        join = time.monotonic() - t0
        time.sleep(2.0)
        a = [(_cpu(p.pid), _wire(lab, i)) for i, p in enumerate(procs)]
        t1 = time.monotonic()
        time.sleep(idle)
        b = [(_wire(lab, i), _cpu(p.pid)) for i, p in enumerate(procs)]
        dt = time.monotonic() - t1
        res = {"join_s": join,
               "idle_cpu_ms_per_s": statistics.mean((y[1] - x[0]) / dt * 1000
                                                    for x, y in zip(a, b, strict=True))}
        if lab is not None:
            res["idle_wire_bytes_per_s"] = statistics.mean((y[0] - x[1]) / dt
                                                           for x, y in zip(a, b, strict=True))
        return res
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.bench.tls", description=__doc__)
    ap.add_argument("--nodes", type=int, default=4, help="processes per mesh (default 4)")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (default 10)")
    ap.add_argument("--reps", type=int, default=5, help="propagation samples (default 5)")
    ap.add_argument("--profile", default="local", help="timing profile (default local)")
    ap.add_argument("--peer", choices=["serf"],
                    help="also measure Serf without and with its gossip encryption")
    ap.add_argument("--loopback", action="store_true",
                    help="stay on loopback even where emulated hosts are possible")
    args = ap.parse_args(argv)
    if shutil.which("openssl") is None:
        print("bench_tls: needs the openssl command", file=sys.stderr)
        return 2
    from sim.mesh import netns

    why = netns.missing()
    lab = None if why is not None or args.loopback else netns.NetLab(args.nodes)
    try:
        if lab is not None:
            lab.enter_hub()
        ips = [lab.addr(i) if lab is not None else "127.0.0.1" for i in range(args.nodes)]
        with tempfile.TemporaryDirectory() as tmp:
            certs = make_certs(Path(tmp), ips)
            res = {mode: measure(args.nodes, args.profile, args.idle_seconds, args.reps,
                                 certs if mode == "tls" else None, lab)
                   for mode in ("plain", "tls")}
        if args.peer == "serf":
            from sim.mesh.drivers import ensure_serf

            binary = ensure_serf()
            if binary is None:
                print("bench_tls: serf is not installed and cannot be", file=sys.stderr)
                return 2
            for mode in ("plain", "encrypt"):
                res[f"serf-{mode}"] = measure_serf(binary, args.nodes, args.idle_seconds,
                                                   mode == "encrypt", lab)
    finally:
        if lab is not None:
            lab.leave_hub()
            lab.close()
    where = "emulated hosts" if lab is not None else f"loopback (no wire bytes: {why or 'asked'})"
    print(f"nodes={args.nodes} profile={args.profile} idle={args.idle_seconds:g}s "
          f"reps={args.reps} on {where}")
    for mode, r in res.items():
        print(f"{mode:13}  " + "  ".join(f"{k}={v:.3f}" for k, v in r.items()))
    pairs = [("tls", "plain", "tls / plain")]
    if "serf-plain" in res:
        pairs += [("serf-encrypt", "serf-plain", "serf encrypt / plain"),
                  ("plain", "serf-plain", "gossipreg / serf, plain"),
                  ("tls", "serf-encrypt", "gossipreg tls / serf encrypt")]
    for x, y, label in pairs:
        print(f"{label}: " + "  ".join(f"{k}={res[x][k] / res[y][k]:.2f}"
                                       for k in res[x] if k in res[y] and res[y][k]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
