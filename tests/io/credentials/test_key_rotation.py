"""Keys rotate on a running mesh of ``gossipreg node`` processes by editing their key
files and sending SIGHUP, in the three documented steps, with no packet dropped for a bad or
missing MAC; the admin route reloads too, and only with the token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gossipreg.io.credentials.keys import fingerprint, generate_key, parse_key
from tests.support import until_blocking as until

pytestmark = pytest.mark.network

TOKEN = "t0ken"


def get(addr: str, path: str) -> str:
    req = urllib.request.Request(f"http://{addr}{path}",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return str(r.read().decode())



def packets_in(addr: str) -> int:
    found = re.search(r"^gossipreg_packets_in_total (\S+)$", get(addr, "/metrics"), re.M)
    assert found is not None
    return int(float(found.group(1)))


def mac_drops(addr: str) -> int:
    text = get(addr, "/metrics")
    return sum(int(float(v)) for v in re.findall(
        r'^gossipreg_packets_dropped_total\{reason="(?:bad_mac|unsigned|unexpected_signature)"\}'
        r" (\S+)$", text, re.M))


class Proc:
    def __init__(self, name: str, key_file: Path, seed: str | None) -> None:
        cmd = [sys.executable, "-m", "gossipreg", "node", "--name", name,
               "--bind", "127.0.0.1:0", "--profile", "local", "--key-file", str(key_file)]
        if seed:
            cmd += ["--join", seed]
        env = {**os.environ, "GOSSIPREG_TOKEN": TOKEN}
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, start_new_session=True)
        assert self.p.stdout is not None and self.p.stderr is not None
        line = self.p.stdout.readline()
        self.addr = line.rsplit("advertising ", 1)[1].strip()
        self.key_file = key_file
        self.log: list[str] = []
        threading.Thread(target=self._read, args=(self.p.stderr,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.log.append(line)

    def reloaded(self, primary: bytes, n: int) -> bool:
        return sum(f"primary {fingerprint(primary)}" in line for line in self.log) >= n

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(5)


def test_sighup_rotation_on_a_running_mesh_drops_nothing(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    procs: list[Proc] = []
    try:
        for i in range(3):
            f = tmp_path / f"keys{i}"
            f.write_text(old + "\n")
            procs.append(Proc(f"k{i}", f, procs[0].addr if procs else None))
        assert until(lambda: all(get(p.addr, "/v1/members").count('"alive"') == 3
                                 for p in procs), 10)
        # The three steps, each on every node before the next: install, use, remove.
        for step, (lines, primary) in enumerate(
                (([old, new], old), ([new, old], new), ([new], new)), 1):
            for p in procs:
                p.key_file.write_text("\n".join(lines) + "\n")
                p.p.send_signal(signal.SIGHUP)
            want = 2 if step == 3 else 1  # step 3 logs the same primary as step 2
            assert until(lambda primary=primary, want=want: all(  # type: ignore[misc]
                p.reloaded(parse_key(primary), want) for p in procs), 10), step
            # Some gossip rounds under the new keys: every node hears more packets.
            heard = [packets_in(p.addr) for p in procs]
            assert until(lambda heard=heard: all(  # type: ignore[misc]
                packets_in(p.addr) >= n + 5 for p, n in zip(procs, heard, strict=True)), 10)
        assert all(get(p.addr, "/v1/members").count('"alive"') == 3 for p in procs)
        assert [mac_drops(p.addr) for p in procs] == [0, 0, 0]
        # The admin route reloads too, with the token only; a key on one node alone is then
        # refused by the others (the check above can fail).
        stray = generate_key()
        procs[2].key_file.write_text(stray + "\n")
        req = urllib.request.Request(f"http://{procs[2].addr}/v1/admin/reload-keys",
                                     data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(req, timeout=5)
        assert denied.value.code == 401
        req.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(req, timeout=5) as r:
            body = json.loads(r.read())
        assert body["primary"] == fingerprint(parse_key(stray))
        assert until(lambda: mac_drops(procs[0].addr) + mac_drops(procs[1].addr) > 0, 10)
    finally:
        for p in procs:
            p.stop()
