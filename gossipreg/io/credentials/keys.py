"""Key files: one base64-encoded key of 16..64 bytes per line, the first line primary; and
reloading a running node's keyring from its file."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.wire.keyring import KEY_SIZES, Keyring

__all__ = ["KeyFileReloader", "fingerprint", "generate_key", "load_key_file", "parse_key"]

log = logging.getLogger("gossipreg.io.credentials.keys")


def parse_key(text: str) -> bytes:
    """Decode one base64 key; raises InvalidArgumentError (never echoing the key)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError("a key must be base64") from None
    if len(key) not in KEY_SIZES:
        raise InvalidArgumentError(f"a key must decode to 16..64 bytes, not {len(key)}")
    return key


def load_key_file(path: str | os.PathLike[str]) -> Keyring:
    """Read a key file: blank lines and lines starting with ``#`` are ignored."""
    keys = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                keys.append(parse_key(line))
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"{path}, line {n}: {e}") from None
    if not keys:
        raise InvalidArgumentError(f"{path}: no key found")
    return Keyring(keys)


def generate_key(n: int = 32) -> str:
    """A new random key, base64-encoded."""
    return base64.b64encode(secrets.token_bytes(n)).decode()


def fingerprint(key: bytes) -> str:
    """A short, non-secret name for a key (the first 8 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:8]


class KeyFileReloader:
    """Reloads a running node's keyring from its key file (SIGHUP, the admin route).

    The file's order is the keyring's: its first key signs, every key verifies. So the three
    rotation steps are three edits of the file, each followed by a reload on every node:
    append the new key; move it to the first line; delete the old one. A file that does not
    parse leaves the running keyring as it was.
    """

    def __init__(self, install: Callable[[Sequence[bytes]], None],
                 path: str | os.PathLike[str]) -> None:
        self.install = install  # puts keys in the running node's keyring (its core's)
        self.path = path
        self.reloads = 0

    def reload(self) -> dict[str, Any]:
        """Read the file and install it; returns what is installed (fingerprints only).
        Raises InvalidArgumentError (or OSError) and changes nothing when the file is bad."""
        ring = load_key_file(self.path)
        self.install(ring.keys)
        self.reloads += 1
        info = {"keys": [fingerprint(k) for k in ring.keys],
                "primary": fingerprint(ring.primary), "reloads": self.reloads}
        log.warning("keyring reloaded from %s: %d key(s), primary %s", self.path,
                    len(ring.keys), info["primary"])
        return info

    def reload_logged(self) -> None:
        """:meth:`reload` for a signal handler: a bad file is logged, never raised."""
        try:
            self.reload()
        except (InvalidArgumentError, OSError) as e:
            log.error("keyring not reloaded from %s (the old one stays): %s", self.path, e)
