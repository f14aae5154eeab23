"""Fixtures shared by test packages (most tests build what they need themselves)."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session", autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nodes keep their identity keys under ``$XDG_STATE_HOME`` by default: the session's own
    temporary one (children inherit it), never the user's."""
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = old
