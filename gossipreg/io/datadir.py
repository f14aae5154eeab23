"""The data directory: what a node keeps across restarts, and the one place that knows its
layout (docs/design/shapes.md §3).

Rules:
- ``--data-dir DIR`` (``NodeConfig.data_dir``); a caller that needs a directory without one
  (an identity key) uses :func:`default_dir`: ``$XDG_STATE_HOME/gossipreg/<cluster>/<name>``,
  else ``~/.local/state/gossipreg/<cluster>/<name>``.
- ``DIR`` is created ``0700``. Its ``FORMAT`` file says ``gossipreg-data 1``; a directory whose
  ``FORMAT`` says anything else, or that holds files but no ``FORMAT``, is refused.
- The files are those of :data:`LAYOUT`, found with :func:`path_of`. Every file is written
  atomically by :func:`atomic_write`: a temporary file in ``DIR``, fsync, rename over the old
  one, fsync of ``DIR``; a crash leaves the old file or the new one, never a mix.
- A file of another cluster or node, or one that does not parse, is refused with a
  :class:`DataDirError` naming its path and the reason; nothing of it is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import ConfigError

__all__ = ["FORMAT", "FORMAT_FILE", "LAYOUT", "DataDir", "DataDirError", "atomic_write",
           "default_dir", "path_of"]

FORMAT = "gossipreg-data 1"
FORMAT_FILE = "FORMAT"
# name -> what it holds. Other issues' files are named here too, so that the layout is one list.
LAYOUT: dict[str, str] = {
    FORMAT_FILE: "the layout's version",
    "identity.key": "the node's Ed25519 private key, PKCS#8 PEM, 0600",
    "identity.pin": "pinned public keys of other names",
    "agents.json": "the agents this node owns and their checks",
    "publishers": "JWKS files of the card publishers this node trusts (a directory)",
}


class DataDirError(ConfigError):
    """A data directory or one of its files cannot be used (the message names the path)."""


def default_dir(cluster: str, node: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where a node keeps its state when no data directory was given:
    ``$XDG_STATE_HOME/gossipreg/<cluster>/<node>`` (``~/.local/state`` without it)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    for part, what in ((cluster, "cluster"), (node, "node name")):
        if not part or part in (".", "..") or "/" in part or "\0" in part:
            raise DataDirError(f"cannot keep state for {what} {part!r}: not a directory name")
    return root / "gossipreg" / cluster / node


def _dir_of(where: NodeConfig | str | os.PathLike[str], node: str | None) -> Path:
    if isinstance(where, NodeConfig):
        if where.data_dir is not None:
            return Path(where.data_dir).expanduser()
        if node is None:
            raise DataDirError("no data_dir configured: the default location needs the node name")
        return default_dir(where.cluster, node)
    return Path(where).expanduser()


def path_of(where: NodeConfig | str | os.PathLike[str], name: str, *,
            node: str | None = None) -> Path:
    """The path of the layout's file ``name`` in the data directory ``where`` (a path, or a
    config: its ``data_dir``, else :func:`default_dir` of its cluster and ``node``). Pure: it
    creates nothing (:meth:`DataDir.open` does)."""
    if name not in LAYOUT:
        raise ValueError(f"{name!r} is not a file of the data directory: {sorted(LAYOUT)}")
    return _dir_of(where, node) / name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file beside it, fsync, rename,
    fsync of the directory), with permissions ``mode``. Blocking: call it off the event loop
    when it may be slow."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


class DataDir:
    """An opened data directory: created ``0700`` with its ``FORMAT`` file when new, refused
    when it is of another format or foreign (see the module rules)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, where: NodeConfig | str | os.PathLike[str], *,
             node: str | None = None) -> DataDir:
        """Open (creating it if need be) the data directory ``where`` (as :func:`path_of`)."""
        path = _dir_of(where, node)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fmt = path / FORMAT_FILE
            if fmt.exists():
                found = fmt.read_text(encoding="utf-8", errors="replace").strip()
                if found != FORMAT:
                    raise DataDirError(
                        f"{fmt}: not a gossipreg data directory of this version (it says "
                        f"{found[:40]!r}, expected {FORMAT!r}); use another --data-dir")
            else:
                others = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
                if others:
                    raise DataDirError(
                        f"{path}: not a gossipreg data directory (no {FORMAT_FILE} file, and it "
                        f"holds {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
                        f"give --data-dir an empty or new directory")
                path.chmod(0o700)
                atomic_write(fmt, (FORMAT + "\n").encode(), 0o644)
        except DataDirError:
            raise
        except OSError as e:
            raise DataDirError(f"{path}: cannot use as a data directory: "
                               f"{e.strerror or e}") from None
        return cls(path)

    def path_of(self, name: str) -> Path:
        """The path of the layout's file ``name`` here."""
        return path_of(self.path, name)

    def write(self, name: str, data: bytes, mode: int = 0o600) -> None:
        """Write the file ``name`` atomically (blocking)."""
        atomic_write(self.path_of(name), data, mode)

    def read_json(self, name: str) -> dict[str, Any] | None:
        """The JSON object in the file ``name``, or None when there is none; a file that
        cannot be read or is not a JSON object raises :class:`DataDirError` naming it."""
        path = self.path_of(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise DataDirError(f"{path}: cannot read: {e.strerror or e}") from None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as e:
            raise DataDirError(f"{path}: not valid JSON ({e}); nothing of it was loaded: "
                               f"repair or remove it") from None
        if not isinstance(data, dict):
            raise DataDirError(f"{path}: expected a JSON object; nothing of it was loaded")
        return data
