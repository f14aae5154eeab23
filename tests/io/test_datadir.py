"""The data directory's layout (gossipreg/io/datadir.py): created 0700 with its FORMAT file,
files written atomically, a foreign or corrupt directory or file refused with its path, the
default location under $XDG_STATE_HOME."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gossipreg import ConfigError, NodeConfig
from gossipreg.io import datadir
from gossipreg.io.datadir import FORMAT, DataDir, DataDirError, atomic_write, default_dir, path_of


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_directory_is_private_and_says_its_format(tmp_path: Path) -> None:
    d = DataDir.open(tmp_path / "a" / "state")
    assert mode(d.path) == 0o700
    assert (d.path / "FORMAT").read_text() == FORMAT + "\n"
    assert DataDir.open(d.path).path == d.path  # opened again as it is
    assert d.path_of("agents.json") == d.path / "agents.json"


def test_a_directory_of_another_format_or_a_foreign_one_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "FORMAT").write_text("gossipreg-data 2\n")
    with pytest.raises(DataDirError, match=rf"^{other}/FORMAT: not a gossipreg data directory "
                                           r"of this version \(it says 'gossipreg-data 2'"):
        DataDir.open(other)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match=rf"^{home}: not a gossipreg data directory \(no "
                                           r"FORMAT file, and it holds notes\.txt\)"):
        DataDir.open(home)
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]  # nothing written there
    assert isinstance(DataDirError("x"), ConfigError)


def test_an_unusable_directory_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataDirError, match=rf"^{blocker}/d: cannot use as a data directory"):
        DataDir.open(blocker / "d")


def test_writes_are_atomic_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "agents.json"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one" and mode(target) == 0o600
    atomic_write(target, b"two", 0o644)
    assert target.read_bytes() == b"two" and mode(target) == 0o644

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"three")
    assert target.read_bytes() == b"two"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agents.json"]  # no temporary left


def test_a_file_that_does_not_parse_is_refused_naming_it(tmp_path: Path) -> None:
    d = DataDir.open(tmp_path)
    assert d.read_json("agents.json") is None
    (tmp_path / "agents.json").write_text('{"format": 1, "agents": [')
    with pytest.raises(DataDirError, match=rf"^{tmp_path}/agents\.json: not valid JSON"):
        d.read_json("agents.json")
    (tmp_path / "agents.json").write_text("[]")
    with pytest.raises(DataDirError, match="expected a JSON object"):
        d.read_json("agents.json")


def test_the_default_location_and_the_paths_other_parts_use(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert default_dir("prod", "n1", env) == tmp_path / "xdg" / "gossipreg" / "prod" / "n1"
    assert default_dir("prod", "n1", {}) == Path.home() / ".local/state/gossipreg/prod/n1"
    assert default_dir("prod", "n1", {"XDG_STATE_HOME": "relative"}) == \
        Path.home() / ".local/state/gossipreg/prod/n1"  # the spec ignores a relative one
    with pytest.raises(DataDirError, match=r"node name '\.\./x'"):
        default_dir("prod", "../x", env)
    cfg = NodeConfig(data_dir=str(tmp_path / "d"))
    assert path_of(cfg, "identity.key") == tmp_path / "d" / "identity.key"
    assert path_of(str(tmp_path), "agents.json") == tmp_path / "agents.json"
    assert path_of(NodeConfig(cluster="c"), "identity.key", node="n") == \
        default_dir("c", "n") / "identity.key"
    with pytest.raises(DataDirError, match="needs the node name"):
        path_of(NodeConfig(), "identity.key")
    with pytest.raises(ValueError, match="not a file of the data directory"):
        path_of(cfg, "secrets.txt")
    assert set(datadir.LAYOUT) == {"FORMAT", "identity.key", "identity.pin", "agents.json",
                                   "publishers"}
