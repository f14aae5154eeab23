"""What a replica holds about one owner: its generation, entries, watermark and settled versions.

Rules: the watermark only moves up, over versions accounted for (applied here, or superseded by
a write that is); ``above`` answers a peer's "everything current above w" in version order.
``settled`` holds only versions above the watermark: pruned after the watermark jumps (a delta),
never scanned while it only advances, so a write costs O(1) however large a hole is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gossipreg.core.replica.values import Entry

__all__ = ["OwnerState"]


class OwnerState:
    """State held about one owner.

    Fields: ``generation`` (the owner's run we hold), ``entries`` (key -> current entry),
    ``by_version`` (version -> key of the current entries, ascending while ``sorted``),
    ``max_version`` (the highest version we know of), ``watermark`` (every version up to it is
    here or superseded), ``settled`` (versions above the watermark known to be here or
    superseded), ``gc_floor`` (the collection horizon: tombstones at or below it are gone)."""

    __slots__ = ("_clean", "by_version", "entries", "gc_floor", "generation", "max_version",
                 "settled", "sorted", "watermark")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.entries: dict[str, Entry] = {}
        # version -> key for the current entries; kept in ascending order when `sorted`.
        self.by_version: dict[int, str] = {}
        self.sorted = True
        self.max_version = 0
        self.watermark = 0
        self.gc_floor = 0
        # Versions above the watermark known to be here or superseded.
        self.settled: set[int] = set()
        self._clean = 0  # a watermark for which every settled version was above it

    def settle(self, versions: tuple[int, ...] | list[int]) -> None:
        wm = self.watermark
        for v in versions:
            if v > wm:
                self.settled.add(v)
        self.advance()

    def advance(self) -> None:
        settled = self.settled
        wm = self.watermark
        jumped = wm != self._clean  # set from outside (a delta): settled may hold versions <= wm
        while wm + 1 in settled:
            wm += 1
            settled.discard(wm)
        self.watermark = self._clean = wm
        if jumped and settled and min(settled) <= wm:
            self.settled = {v for v in settled if v > wm}
        if wm > self.max_version:
            self.max_version = wm

    def put(self, key: str, entry: Entry) -> None:
        old = self.entries.get(key)
        if old is not None:
            del self.by_version[old.version]
        self.entries[key] = entry
        v = entry.version
        if v > self.max_version:
            self.max_version = v  # above every held version: the order holds
        elif self.by_version and v < next(reversed(self.by_version)):
            self.sorted = False
        self.by_version[v] = key

    def put_many(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """The owner's own unsigned live writes of ``pairs`` (key, value), at its next versions
        in order: :meth:`put` of each, and the watermark at the last (nothing is missing
        below our own writes)."""
        entries, by_version = self.entries, self.by_version
        v = self.max_version
        for key, value in pairs:
            old = entries.get(key)
            if old is not None:
                del by_version[old.version]
            v += 1
            entries[key] = Entry(value, v, False)
            by_version[v] = key
        self.max_version = self.watermark = v

    def drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            del self.by_version[old.version]

    def above(self, version: int) -> list[tuple[str, Entry]]:
        """Current entries with a version above ``version``, ascending."""
        if not self.sorted:
            self.by_version = dict(sorted(self.by_version.items()))
            self.sorted = True
        out: list[tuple[str, Entry]] = []
        for v in reversed(self.by_version):
            if v <= version:
                break
            key = self.by_version[v]
            out.append((key, self.entries[key]))
        out.reverse()
        return out
