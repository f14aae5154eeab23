"""The values the directory replica deals in: entries, writes, deltas and changes.

Rules: a write and a delta are immutable once made (they travel); an entry is replaced, never
mutated, so a change's ``old`` entry stays what it was; sizes are what the byte budgets count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from gossipreg.core.wire.codec import PACKER_BUFFER
from gossipreg.core.wire.messages import Delta, Digest, OwnerDelta, Write

__all__ = ["Change", "Delta", "Digest", "Entry", "OwnerDelta", "SignedEntry", "Write",
           "entry_size", "live_value", "make_entry", "packed_size"]


# Fixed per-entry cost of a delta or write beyond the key and value bytes (ints, flags, framing).
_ENTRY_OVERHEAD = 16


# One Packer (packb builds one per call), its buffer small at first (see core.wire.codec).
_pack: Callable[[Any], bytes] = msgpack.Packer(buf_size=PACKER_BUFFER).pack


def packed_size(value: Any) -> int:
    """The msgpack size of a value that is already in its wire form (the default measure)."""
    return len(_pack(value))


def entry_size(key: str, value: Any, value_size: Callable[[Any], int] = packed_size) -> int:
    """Approximate wire size of one entry: what the byte budgets count. ``value_size`` measures
    a stored value as it will travel (the directory injects its value codec's measure)."""
    return len(key) + value_size(value) + _ENTRY_OVERHEAD


class Entry:
    """One key's current write (its value, version, and whether it is a tombstone). ``sig``
    and ``sup`` are its owner's signature and the supersedes it signed, kept so that a relay
    and a delta carry them: None and () here, set on a :class:`SignedEntry` (make either with
    :func:`make_entry`; an unsigned entry is 16 bytes smaller). (The wire size is computed
    only when a delta is built: most entries never travel in one.)"""

    __slots__ = ("deleted", "value", "version")
    sig: bytes | None = None
    sup: tuple[int, ...] = ()

    def __init__(self, value: Any, version: int, deleted: bool) -> None:
        self.value = value
        self.version = version
        self.deleted = deleted

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(value={self.value!r}, version={self.version}, "
                f"deleted={self.deleted}, sig={self.sig!r}, sup={self.sup!r})")


class SignedEntry(Entry):
    """An :class:`Entry` with its owner's signature."""

    __slots__ = ("sig", "sup")

    def __init__(self, value: Any, version: int, deleted: bool, sig: bytes,
                 sup: tuple[int, ...]) -> None:
        super().__init__(value, version, deleted)
        self.sig = sig
        self.sup = sup


def make_entry(value: Any, version: int, deleted: bool, sig: bytes | None,
               sup: tuple[int, ...]) -> Entry:
    """The entry of a write: signed when ``sig`` is given (its ``sup`` kept only then)."""
    if sig is None:
        return Entry(value, version, deleted)
    return SignedEntry(value, version, deleted, sig, sup if sig else ())


# One key that moved: ``(owner, key, old entry, new entry)``, the entry before (None if absent)
# and after (None if dropped). Entries are replaced, never mutated, so ``old`` stays what it
# was. A plain tuple: one is made per piece of news, and a named tuple costs a second one.
Change = tuple[str, str, "Entry | None", "Entry | None"]


def live_value(e: Entry | None) -> Any:
    """The value of an entry, None if absent or a tombstone."""
    return None if e is None or e.deleted else e.value


