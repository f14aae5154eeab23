"""What an idle node's memory is made of (issue 28 item 5), for this tree and, with
``--parent``, another checkout, in one run.

    python -m sim.bench.memory [--parent DIR] [--settle 5] [--maps 8]

For each tree: one ``gossipreg node --profile lan`` (``--embedder off`` for this tree, as the
mesh harness runs it) on loopback, asked what the harness asks (its members, a registration,
the agent), then left ``--settle`` seconds: its RSS and USS (``/proc/<pid>/status``,
``smaps_rollup``), the mappings that hold most of it, and the modules it has imported (the
node runs under a wrapper that writes ``sys.modules`` on SIGUSR1). Then, in a fresh
interpreter, RSS after each import step on top of the previous one, the last step being every
module the running node had. A single process shares no pages with other nodes, so its USS
is higher than a node's in the harness (``python -m sim.mesh run`` reports both for N nodes).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

__all__ = ["main"]

WRAPPER = """
import json, os, runpy, signal, sys
out = sys.argv[1]
def dump(signum, frame):
    with open(out + ".tmp", "w") as f:
        json.dump(list(sys.modules), f)
    os.replace(out + ".tmp", out)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["gossipreg", *sys.argv[2:]]
runpy.run_module("gossipreg", run_name="__main__", alter_sys=True)
"""

STEPS = """
import importlib, json, sys
def kb(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field))
def uss():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(l.split()[1]) for l in f if l.startswith(("Private_Clean", "Private_Dirty")))
out = [["bare Python", kb("VmRSS"), uss(), len(sys.modules)]]
for label, names in json.loads(sys.argv[1]):
    for n in names:
        try:
            importlib.import_module(n)
        except Exception:
            pass
    out.append([label, kb("VmRSS"), uss(), len(sys.modules)])
print(json.dumps(out))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mappings(pid: int) -> dict[str, list[int]]:
    """RSS and private kB per mapped file (anonymous memory as [anon], [heap])."""
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cur = "[anon]"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                cur = parts[5] if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                agg[cur][0] += int(parts[1])
            elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
                agg[cur][1] += int(parts[1])
    return agg


def _request(addr: str, path: str, body: object = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def measure(tree: Path, this: bool, settle: float, tmp: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    wrapper, dump = tmp / "wrapper.py", tmp / f"modules-{os.getpid()}-{int(this)}.json"
    wrapper.write_text(WRAPPER)
    addr = f"127.0.0.1:{_free_port()}"
    cmd = [sys.executable, str(wrapper), str(dump), "node", "--name", "m0", "--bind", addr,
           "--profile", "lan", *(["--embedder", "off", "--data-dir", str(tmp / "data")]
                                 if this else [])]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        else:
            raise RuntimeError(f"the node of {tree} did not start")
        _request(addr, "/v1/members")
        _request(addr, "/v1/agents", {"agent_id": "k1", "name": "k1", "runtime_id": "bench",
                                      "capabilities": ["benchmark"]})
        _request(addr, "/v1/agents/k1")
        time.sleep(settle)
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        maps = _mappings(proc.pid)
        uss = sum(v[1] for v in maps.values())
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not dump.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        modules = json.loads(dump.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    own = [m for m in modules if m.split(".")[0] == "gossipreg"]
    steps = [["+ ssl, asyncio", ["ssl", "asyncio"]], ["+ aiohttp.web", ["aiohttp.web"]],
             ["+ pydantic, msgpack", ["pydantic", "msgpack"]],
             ["+ gossipreg.core.config (pydantic's model classes)", ["gossipreg.core.config"]],
             ["+ every other module the running node has", sorted(modules)]]
    got = subprocess.run([sys.executable, "-c", STEPS, json.dumps(steps)], env=env, cwd=tmp,
                         capture_output=True, text=True, check=True)
    return {"rss_kb": rss, "uss_kb": uss, "modules": len(modules), "own_modules": len(own),
            "maps": maps, "steps": json.loads(got.stdout)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.bench.memory", description=__doc__)
    p.add_argument("--parent", metavar="DIR", help="another checkout, measured the same way")
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--maps", type=int, default=8)
    a = p.parse_args(argv)
    trees = [("this", Path(__file__).resolve().parents[2], True)]
    if a.parent:
        trees.append(("parent", Path(a.parent).resolve(), False))
    with tempfile.TemporaryDirectory() as d:
        res = {name: measure(tree, this, a.settle, Path(d)) for name, tree, this in trees}
    for name, r in res.items():
        print(f"{name}: a running node {r['rss_kb'] / 1024:.1f} MB RSS, "
              f"{r['uss_kb'] / 1024:.1f} MB USS, {r['modules']} modules "
              f"({r['own_modules']} of gossipreg)")
        maps = r["maps"]
        assert isinstance(maps, dict)
        for path, (rss, private) in sorted(maps.items(), key=lambda kv: -kv[1][0])[:a.maps]:
            print(f"  {rss / 1024:6.1f} MB ({private / 1024:4.1f} private)  {path}")
        steps = r["steps"]
        assert isinstance(steps, list)
        for label, rss, uss, n in steps:
            print(f"  imports: {label:55s} {rss / 1024:5.1f} MB RSS {uss / 1024:5.1f} MB USS "
                  f"{n:4d} modules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
