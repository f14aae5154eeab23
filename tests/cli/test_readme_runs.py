"""The README runs as written: every Python snippet (a ``<!-- readme-python -->`` block; one
marked ``readme-python: fx-desk`` runs against a node set up by the ``readme-setup: fx-desk``
commands) and the "three nodes on your laptop" walkthrough (``readme-walk`` blocks, in one
shell). Each runs in a private network namespace, since they use the README's fixed ports; the
walkthrough's queries are retried until their answer shows what the README says it shows."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
PYTHON = re.findall(r"<!-- readme-python(?:: ([\w-]+))? -->\n```python\n(.*?)```", README, re.S)
SETUP = dict(re.findall(r"<!-- readme-setup: ([\w-]+) -->\n```bash\n(.*?)```", README, re.S))
WALK = re.findall(r"<!-- readme-walk: (\w+) -->\n```bash\n(.*?)```", README, re.S)

# What each walkthrough query must show (retried until it does): text it must hold ("!": must
# not hold). A query the README adds must be added here.
EXPECT: dict[str, list[str]] = {
    "gossipreg health --node 127.0.0.1:7948": [],
    "gossipreg members --node 127.0.0.1:7947": ["a ", "b ", "c "],
    "gossipreg register coder-1 --capability python --node 127.0.0.1:7948": ["coder-1"],
    "gossipreg agents --capability python --node 127.0.0.1:7947": ["coder-1"],
    "gossipreg heartbeat coder-1 --node 127.0.0.1:7946": [],
    "gossipreg status coder-1 degraded --node 127.0.0.1:7947": [],
    'gossipreg search "python" --status degraded --node 127.0.0.1:7946': ["coder-1"],
    "gossipreg agents --node 127.0.0.1:7947": ["!coder-1"],
    "gossipreg agents --node 127.0.0.1:7946": ["coder-1", "degraded"],
}


def env() -> dict[str, str]:
    """The README assumes `gossipreg` and `python` on PATH: this interpreter's."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def private_net(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a bash script in a fresh network namespace (its own loopback), in its own session,
    whatever it leaves running killed at the end."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the README's commands need root and unshare under CI")
        pytest.skip("the README's commands use fixed ports: they need a private network "
                    "namespace (root and unshare)")
    wrapped = f"ip link set lo up\n{script}"
    p = subprocess.Popen(["unshare", "--net", "--", "bash", "-c", wrapped], cwd=cwd, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, _ = p.communicate(timeout=10)
        out += f"\n(killed after {timeout:g} s)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, 9)  # whatever it left running
    return subprocess.CompletedProcess(p.args, p.returncode, out, "")


def test_the_readme_has_its_runnable_parts() -> None:
    assert len(PYTHON) == README.count("```python") >= 4, "every Python block is marked"
    assert [name for name, _ in WALK] == ["start", "use", "restart"]
    assert all(need in SETUP for need, _ in PYTHON if need)
    quick = re.search(r"## Quick start\n.*?```bash\n(.*?)```", README, re.S)
    assert quick is not None and len(quick.group(1).strip().splitlines()) == 2


@pytest.mark.parametrize(("need", "code"), PYTHON,
                         ids=[f"snippet-{i}" for i in range(len(PYTHON))])
def test_every_python_snippet_runs_as_written(tmp_path: Path, need: str, code: str) -> None:
    (tmp_path / "snippet.py").write_text(code)
    script = ""
    if need:
        script = ("gossipreg node --name a --bind 127.0.0.1:7946 --profile local "
                  ">node.log 2>&1 &\n"
                  "until gossipreg health --node 127.0.0.1:7946 >/dev/null 2>&1; do "
                  "sleep 0.1; done\n"
                  f"{SETUP[need]}\n")
    script += "python snippet.py\nkill $(jobs -p) 2>/dev/null || true\n"
    p = private_net(f"set -e\n{script}", tmp_path, 120)
    assert p.returncode == 0, p.stdout
    assert "Traceback" not in p.stdout, p.stdout


def _step(line: str) -> str:
    """One walkthrough line as the harness runs it: a query is retried until its output
    shows what EXPECT says (at most 20 s); anything else runs as it is."""
    command = re.sub(r"\s+#.*$", "", line).strip()
    if not command.startswith("gossipreg ") or command.endswith("&"):
        return command
    assert command in EXPECT, f"the README has a new walkthrough query: {command!r}"
    checks = " && ".join(
        (f"! grep -qF -- {shlex.quote(t[1:])} <<<\"$out\"" if t.startswith("!")
         else f"grep -qF -- {shlex.quote(t)} <<<\"$out\"") for t in EXPECT[command]) or "true"
    return (f"n=0; until out=$({command} 2>&1) && {checks}; do n=$((n+1)); "
            f"if [ $n -ge 100 ]; then echo \"FAILED: {command}\"; echo \"$out\"; exit 1; fi; "
            f"sleep 0.2; done; echo \"$ {command}\"; echo \"$out\"")


def test_the_three_node_walkthrough_runs_as_written(tmp_path: Path) -> None:
    lines = [ln for _, block in WALK for ln in block.strip().splitlines()]
    p = private_net("\n".join(_step(ln) for ln in lines), tmp_path, 180)
    assert p.returncode == 0, p.stdout
    assert "FAILED" not in p.stdout, p.stdout
    assert (tmp_path / "c-data" / "agents.json").is_file()  # as the README says, in ./c-data
