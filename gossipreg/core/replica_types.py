"""The values the directory replica deals in: entries, writes, deltas and changes.

Rules: a write and a delta are immutable once made (they travel); an entry is replaced, never
mutated, so a change's ``old`` entry stays what it was; sizes are what the byte budgets count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from gossipreg.core.records import to_wire

__all__ = ["Change", "Delta", "Digest", "Entry", "OwnerDelta", "Write", "entry_size",
           "live_value"]

Digest = dict[str, tuple[int, int]]

# Fixed per-entry cost of a delta or write beyond the key and value bytes (ints, flags, framing).
_ENTRY_OVERHEAD = 16


def entry_size(key: str, value: Any) -> int:
    """Approximate wire size of one entry: what the byte budgets count."""
    return len(key) + len(msgpack.packb(to_wire(value))) + _ENTRY_OVERHEAD


@dataclass(slots=True)
class Entry:
    """One key's current write. ``applied_at`` is the local time a tombstone was applied. (The
    wire size is computed only when a delta is built: most entries never travel in one.)"""

    value: Any
    version: int
    deleted: bool
    applied_at: float = 0.0


# One key that moved: ``(owner, key, old entry, new entry)``, the entry before (None if absent)
# and after (None if dropped). Entries are replaced, never mutated, so ``old`` stays what it
# was. A plain tuple: one is made per piece of news, and a named tuple costs a second one.
Change = tuple[str, str, "Entry | None", "Entry | None"]


def live_value(e: Entry | None) -> Any:
    """The value of an entry, None if absent or a tombstone."""
    return None if e is None or e.deleted else e.value


@dataclass(frozen=True, slots=True)
class Write:
    """One owner write as it travels on the fast path. ``supersedes`` lists older versions of
    the same key that this write replaces (so receivers can settle them without seeing them)."""

    owner: str
    generation: int
    key: str
    version: int
    deleted: bool
    value: Any
    supersedes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerDelta:
    """The part of a delta about one owner.

    ``since`` is the watermark the receiver advertised, ``upto`` the sender's watermark, ``entries``
    ``(key, version, deleted, value)`` in ascending version order, ``complete`` whether every entry
    the sender has above ``since`` is included, ``floor`` the sender's collection horizon,
    ``manifest`` (when the receiver is behind ``floor``) the sender's live and tombstoned keys
    with versions.
    """

    owner: str
    generation: int
    since: int
    upto: int
    entries: tuple[tuple[str, int, bool, Any], ...]
    complete: bool
    manifest: tuple[tuple[str, int], ...] | None = None
    floor: int = 0


Delta = list[OwnerDelta]
