"""The README's "Running on several machines" commands, run as written on two emulated hosts
(network namespaces from sim/mesh/netns.py whose addresses are the README's 198.18.0.10 and
198.18.0.11); its systemd unit is checked with systemd-analyze where that exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.mesh import netns

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text()
BLOCKS = dict(re.findall(r"<!-- readme-run: (\w+) -->\n```bash\n(.*?)```", TEXT, re.S))
UNIT = re.search(r"<!-- readme-unit -->\n```ini\n(.*?)```", TEXT, re.S)


def env() -> dict[str, str]:
    """The README assumes `gossipreg` on PATH: this interpreter's scripts folder."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def split(block: str) -> tuple[str, str]:
    """(everything before the last line, the last line: the long-running node)."""
    head, _, last = block.strip().rpartition("\n")
    return head, last


def test_the_readme_has_the_blocks() -> None:
    assert set(BLOCKS) == {"setup", "A", "B", "check"} and UNIT is not None
    assert "gossipreg node" in split(BLOCKS["A"])[1] and "gossipreg node" in split(BLOCKS["B"])[1]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed: the README's unit is not verified here")
    assert UNIT is not None
    gossipreg = shutil.which("gossipreg", path=env()["PATH"])
    assert gossipreg is not None
    unit = tmp_path / "gossipreg.service"
    unit.write_text(UNIT.group(1).replace("/usr/local/bin/gossipreg", gossipreg))
    p = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_the_two_machine_commands_run_as_written(tmp_path: Path) -> None:
    why = netns.missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the README's machines need root, iproute2 and nftables under CI: {why}")
        pytest.skip(f"README machine commands skipped: {why}")
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    subprocess.run(["bash", "-euc", BLOCKS["setup"]], cwd=a, env=env(), check=True)
    for f in ("keys.txt", "token.txt"):  # the README's "copy to both machines"
        shutil.copy(a / f, b / f)
    with netns.NetLab(2, handle_signals=False) as lab:
        assert [lab.addr(0), lab.addr(1)] == ["198.18.0.10", "198.18.0.11"]
        procs = []
        try:
            for i, (name, cwd) in enumerate((("A", a), ("B", b))):
                head, node = split(BLOCKS[name])
                subprocess.run(["bash", "-euc", head], cwd=cwd, env=env(), check=True)
                p = lab.popen(i, ["bash", "-c", f"exec {node}"], cwd=cwd, env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                procs.append(p)
                assert p.stdout is not None
                line = p.stdout.readline().decode()
                assert f"advertising {lab.addr(i)}:7946" in line, line
            outputs = []
            for cmd in BLOCKS["check"].strip().splitlines():
                deadline = time.monotonic() + 20
                while True:
                    q = lab.popen("hub", ["bash", "-c", cmd], cwd=a, env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    out, err = (x.decode() for x in q.communicate(timeout=30))
                    r_ok = q.returncode == 0 and ("agents" not in cmd or "coder-1" in out)
                    if r_ok or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert r_ok, (cmd, out, err)
                outputs.append(out)
            assert "node-a" in outputs[1] and "node-b" in outputs[1]
            assert "coder-1" in outputs[3] and "python" in outputs[3]
        finally:
            for p in procs:
                p.kill()
                p.wait(5)
