"""Fixtures shared by test packages (most tests build what they need themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import prev_release


@pytest.fixture(scope="session")
def prev_release_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The previous release importable as ``gossipreg_prev``: the directory holding it (for a
    child's ``PYTHONPATH``), on ``sys.path`` for the session. Skipped (failed under CI) when
    the commit is not in the clone."""
    prev_release.require_parent("mixed-version tests")
    dest = tmp_path_factory.mktemp("prev_release")
    prev_release.load(dest)
    yield dest
    prev_release.unload(dest)


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nodes keep their identity keys (and the keys they pinned) under ``$XDG_STATE_HOME`` by
    default: each test's own temporary one (its child processes inherit it), never the user's,
    and never another test's pins."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
