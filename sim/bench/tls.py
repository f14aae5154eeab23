"""What TLS costs a mesh of ``gossipreg node`` processes on loopback: idle CPU, idle bytes and
propagation, with TLS off and on, in the same run.

    python -m sim.bench.tls [--nodes 4] [--idle-seconds 10] [--reps 5] [--profile local]

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

_TICK = os.sysconf("SC_CLK_TCK")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        ext.write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth,clientAuth\n")
        cert, key, csr = folder / f"n{i}.pem", folder / f"n{i}.key", folder / f"n{i}.csr"
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
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
                   "--profile", profile]
            if i:
                cmd += ["--join", self.addrs[0]]
            if tls:
                cmd += ["--tls-cert", str(tls[1][i][0]), "--tls-key", str(tls[1][i][1]),
                        "--tls-ca", str(tls[0])]
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

    def _wire(self, i: int) -> int:
        if self.lab is None:
            return 0
        out = subprocess.run(["ip", "-n", self.lab.ns(i), "-j", "-s", "link", "show", "eth0"],
                             capture_output=True, text=True, check=True).stdout
        return int(json.loads(out)[0]["stats64"]["tx"]["bytes"])

    def sample(self) -> list[tuple[float, int, float]]:
        """Per node: (cpu seconds, wire bytes sent, frame bytes sent)."""
        out = []
        for i, p in enumerate(self.procs):
            stat = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(stat[11]) + int(stat[12])) / _TICK
            wchar = self._wire(i)
            sent = float(re.search(r"^gossipreg_sent_bytes_total (\S+)", self.get(i, "/metrics"),
                                   re.M).group(1))  # type: ignore[union-attr]
            out.append((cpu, wchar, sent))
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
        a = mesh.sample()
        t0 = time.monotonic()
        time.sleep(idle)
        b = mesh.sample()
        dt = time.monotonic() - t0
        # The samples' own /metrics queries are counted too, equally in both modes.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.bench.tls", description=__doc__)
    ap.add_argument("--nodes", type=int, default=4, help="processes per mesh (default 4)")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (default 10)")
    ap.add_argument("--reps", type=int, default=5, help="propagation samples (default 5)")
    ap.add_argument("--profile", default="local", help="timing profile (default local)")
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
    finally:
        if lab is not None:
            lab.leave_hub()
            lab.close()
    where = "emulated hosts" if lab is not None else f"loopback (no wire bytes: {why or 'asked'})"
    print(f"nodes={args.nodes} profile={args.profile} idle={args.idle_seconds:g}s "
          f"reps={args.reps} on {where}")
    for mode, r in res.items():
        print(f"{mode:5}  " + "  ".join(f"{k}={v:.3f}" for k, v in r.items()))
    print("ratio  " + "  ".join(f"{k}={res['tls'][k] / res['plain'][k]:.2f}"
                                for k in res["plain"] if res["plain"][k]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
