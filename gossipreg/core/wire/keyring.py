"""HMAC keyring: the first key signs, every key verifies, so keys rotate without downtime.

Rules: rotation on a running mesh: ``add`` the new key everywhere (it verifies), then ``use`` it
everywhere (it signs), then ``remove`` the old one everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from gossipreg.core.errors import InvalidArgumentError

__all__ = ["KEY_SIZES", "Keyring"]

KEY_SIZES = range(16, 65)


def _check(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray):
        raise InvalidArgumentError("a key must be bytes")
    if len(key) not in KEY_SIZES:
        raise InvalidArgumentError(f"a key must be 16..64 bytes long, not {len(key)}")
    return bytes(key)


class Keyring:
    """An ordered set of keys; ``primary`` (the first) signs outgoing packets."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[bytes]) -> None:
        ks: list[bytes] = []
        for k in keys:
            k = _check(k)
            if k in ks:
                raise InvalidArgumentError("duplicate key in keyring")
            ks.append(k)
        if not ks:
            raise InvalidArgumentError("a keyring needs at least one key")
        self._keys = ks

    @property
    def primary(self) -> bytes:
        return self._keys[0]

    @property
    def keys(self) -> tuple[bytes, ...]:
        return tuple(self._keys)

    def add(self, key: bytes) -> None:
        """Install a key that verifies but does not sign (no-op if present)."""
        key = _check(key)
        if key not in self._keys:
            self._keys.append(key)

    def use(self, key: bytes) -> None:
        """Make an installed key the primary."""
        key = _check(key)
        if key not in self._keys:
            raise InvalidArgumentError("cannot use a key that is not installed")
        self._keys.remove(key)
        self._keys.insert(0, key)

    def remove(self, key: bytes) -> None:
        """Uninstall a key; the primary cannot be removed."""
        key = _check(key)
        if key == self._keys[0]:
            raise InvalidArgumentError("cannot remove the primary key; use another key first")
        if key not in self._keys:
            raise InvalidArgumentError("key is not installed")
        self._keys.remove(key)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:  # never show key bytes
        return f"Keyring({len(self._keys)} keys)"
