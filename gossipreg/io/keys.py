"""Key files: one base64-encoded key of 16..64 bytes per line, the first line primary."""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.keyring import KEY_SIZES, Keyring

__all__ = ["generate_key", "load_key_file", "parse_key"]


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
