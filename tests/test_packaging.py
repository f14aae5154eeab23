"""What a user installs and sees: the wheel's contents, the typed public names, ``help()``."""

from __future__ import annotations

import pydoc
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import gossipreg

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_CLASSES = ("AgentRegistry", "AgentMetadata", "GossipNode", "RegistryEvent", "NodeConfig")


def test_help_lists_the_public_classes_lazy_ones_included() -> None:
    text = pydoc.render_doc(gossipreg, renderer=pydoc.plaintext)
    missing = [name for name in PUBLIC_CLASSES if f"class {name}" not in text]
    assert not missing, f"help(gossipreg) omits {missing}"
    assert set(gossipreg.__all__) <= set(dir(gossipreg))


def test_every_exported_name_resolves() -> None:
    for name in gossipreg.__all__:
        assert getattr(gossipreg, name) is not None
    with pytest.raises(AttributeError, match="AgentRegistyr"):
        _ = gossipreg.AgentRegistyr  # type: ignore[attr-defined]


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """mypy --strict on a user's script, reporting only the script's own errors."""
    script = tmp_path / "user_script.py"
    script.write_text(source)
    ini = tmp_path / "mypy.ini"
    ini.write_text("[mypy]\nstrict = True\nfollow_imports = silent\nplugins = pydantic.mypy\n")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ini),
         "--cache-dir", str(tmp_path / "cache"), str(script)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_mypy_rejects_a_misspelt_import_and_accepts_the_real_names(tmp_path: Path) -> None:
    bad = _mypy(tmp_path, "from gossipreg import AgentRegistyr\n")
    assert bad.returncode == 1, bad.stdout
    assert 'has no attribute "AgentRegistyr"' in bad.stdout
    good = _mypy(tmp_path, f"from gossipreg import {', '.join(PUBLIC_CLASSES)}\n"
                           f"print({', '.join(PUBLIC_CLASSES)})\n")
    assert good.returncode == 0, good.stdout


def test_the_wheel_holds_only_the_library_and_its_license(tmp_path: Path) -> None:
    # Built from a copy: a checkout's own build/ directory may hold what older builds shipped.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
         str(src)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("gossipreg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    assert tops == {"gossipreg", dist_info}, tops
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "gossipreg/py.typed" in names
    for static in ("index.html", "ui.css", "ui.js", "icon.svg"):  # the node's page (GET /ui)
        assert f"gossipreg/io/api/static/{static}" in names, static
    meta = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in meta
    assert "Classifier: Typing :: Typed" in meta
