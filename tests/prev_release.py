"""The previous release's library, importable beside this one as ``gossipreg_prev``.

The mixed-version tests run nodes of both releases in one mesh. ``materialise`` extracts the
``gossipreg`` package of :data:`PARENT` (``git archive``) into a directory, renamed
``gossipreg_prev`` with every module reference in it rewritten (imports, the lazy-import table,
``python -m`` arguments; logger names and the default cluster name stay), and checks that no
import of ``gossipreg`` is left. ``load`` puts that directory on ``sys.path`` and imports the
package; the tests' session fixture (``tests/conftest.py``) does it once per session.

Without the commit (a shallow clone, or no git) the tests are skipped with one line; under CI
that is a failure, as for the emulated hosts of ``tests.support.require_netns``.
"""

from __future__ import annotations

import ast
import importlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

# The previous release: its parsers take every message at its exact item count.
PARENT = "1e5991581b92e842d81dfb50b3aa9aec36fd940e"
NAME = "gossipreg_prev"

_IMPORT = re.compile(r"^(\s*)(from|import) gossipreg(?=[.\s]|$)", re.M)
# A module path as a string: the lazy-import table's values ("gossipreg.io.gossip_node") and
# ``-m gossipreg``. Not a logger name (``getLogger("gossipreg.io.runner")``), nor the bare name
# elsewhere: it is also the default cluster name, which must stay the same in both releases.
_MODULE_STR = re.compile(r"""(?<!getLogger\()(["'])gossipreg(?=\.)""")
_DASH_M = re.compile(r"""(["'])-m\1, (["'])gossipreg\2""")


def _repo_root() -> Path | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here,
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip())


def missing() -> str | None:
    """Why the previous release cannot be materialised here, or None."""
    root = _repo_root()
    if root is None:
        return "not a git checkout"
    found = subprocess.run(["git", "cat-file", "-e", f"{PARENT}^{{commit}}"], cwd=root,
                           capture_output=True, timeout=30)
    if found.returncode != 0:
        return f"commit {PARENT[:12]} is not in this clone's history (shallow?)"
    return None


def require_parent(what: str) -> None:
    """Skip, with one line, when the previous release is not at hand; under CI, fail."""
    why = missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} need the previous release under CI: {why}", pytrace=False)
    pytest.skip(f"{what} skipped: {why}")


def rewrite(text: str) -> str:
    """One module's source with its references to ``gossipreg`` made to ``gossipreg_prev``."""
    text = _IMPORT.sub(rf"\1\2 {NAME}", text)
    text = _DASH_M.sub(rf"\1-m\1, \2{NAME}\2", text)
    return _MODULE_STR.sub(rf"\1{NAME}", text)


def _leftover_imports(path: Path, text: str) -> list[str]:
    """Imports of ``gossipreg`` still in a rewritten module (there must be none)."""
    left = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        left += [f"{path}:{node.lineno}: {n}" for n in names
                 if n == "gossipreg" or n.startswith("gossipreg.")]
    return left


def materialise(dest: Path) -> Path:
    """Write the parent's package under ``dest/gossipreg_prev``; returns ``dest`` (the
    directory to put on ``sys.path`` or ``PYTHONPATH``)."""
    root = _repo_root()
    assert root is not None
    tar = subprocess.run(["git", "archive", "--format=tar", PARENT, "gossipreg"], cwd=root,
                         capture_output=True, timeout=60, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(dest, filter="data")
    pkg = dest / NAME
    (dest / "gossipreg").rename(pkg)
    left: list[str] = []
    for path in sorted(pkg.rglob("*.py")):
        text = rewrite(path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        left += _leftover_imports(path, text)
    assert not left, f"imports of gossipreg left in the previous release: {left}"
    return dest


def load(dest: Path) -> ModuleType:
    """Materialise the previous release under ``dest`` and import it (``sys.path`` keeps
    ``dest`` until :func:`unload`)."""
    materialise(dest)
    sys.path.insert(0, str(dest))
    importlib.invalidate_caches()
    mod = importlib.import_module(NAME)
    assert Path(mod.__file__ or "").resolve().is_relative_to(dest.resolve())
    # Both releases' nodes must be of one cluster by default (a frame names its cluster).
    from gossipreg.core.config import NodeConfig

    prev_cluster = importlib.import_module(f"{NAME}.core.config").NodeConfig().cluster
    assert prev_cluster == NodeConfig().cluster, prev_cluster
    return mod


def unload(dest: Path) -> None:
    """Undo :func:`load`: off ``sys.path``, its modules forgotten."""
    if str(dest) in sys.path:
        sys.path.remove(str(dest))
    for name in [n for n in sys.modules if n == NAME or n.startswith(NAME + ".")]:
        del sys.modules[name]
