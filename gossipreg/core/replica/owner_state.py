"""What a replica holds about one owner: its generation, entries, watermark and settled versions.

Rules: the watermark only moves up, over versions accounted for (applied here, or superseded by
a write that is); ``above`` answers a peer's "everything current above w" in version order.
``settled`` holds only versions above the watermark: pruned after the watermark jumps (a delta),
never scanned while it only advances, so a write costs O(1) however large a hole is open.
``by_version`` may be left unbuilt (None): a replica's own state starts so, and a batch of the
owner's own writes (``put_many``) leaves it so (a node alone, which no peer asks for a delta
yet, never pays for it); ``above`` builds it at its first call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gossipreg.core.replica.values import Entry

__all__ = ["OwnerState"]


class OwnerState:
    """State held about one owner.

    Fields: ``generation`` (the owner's run we hold), ``entries`` (key -> current entry),
    ``by_version`` (version -> key of the current entries, ascending while ``sorted``; None:
    not built since a ``put_many``),
    ``max_version`` (the highest version we know of), ``watermark`` (every version up to it is
    here or superseded), ``settled`` (versions above the watermark known to be here or
    superseded), ``gc_floor`` (the collection horizon: tombstones at or below it are gone)."""

    __slots__ = ("_clean", "by_version", "entries", "gc_floor", "generation", "max_version",
                 "settled", "sorted", "watermark")

    def __init__(self, generation: int, built: bool = True) -> None:
        self.generation = generation
        self.entries: dict[str, Entry] = {}
        # version -> key for the current entries; kept in ascending order when `sorted`.
        self.by_version: dict[int, str] | None = {} if built else None
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
        self.entries[key] = entry
        v, by_version = entry.version, self.by_version
        if by_version is None:  # built from the entries when a delta needs it
            self.max_version = max(self.max_version, v)
            return
        if old is not None:
            del by_version[old.version]
        if v > self.max_version:
            self.max_version = v  # above every held version: the order holds
        elif by_version and v < next(reversed(by_version)):
            self.sorted = False
        by_version[v] = key

    def put_many(self, keys: Sequence[str], values: Sequence[Any]) -> None:
        """The owner's own unsigned live writes of ``values`` under ``keys``, at its next
        versions in order: :meth:`put` of each, and the watermark at the last (nothing is
        missing below our own writes). ``by_version`` is left to be built by ``above``."""
        v = self.max_version
        self.entries.update(zip(keys, [Entry(value, version, False) for version, value
                                       in enumerate(values, v + 1)], strict=True))
        self.max_version = self.watermark = v + len(values)
        self.by_version = None

    def drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None and self.by_version is not None:
            del self.by_version[old.version]

    def above(self, version: int) -> list[tuple[str, Entry]]:
        """Current entries with a version above ``version``, ascending."""
        by_version = self.by_version
        if by_version is None or not self.sorted:
            pairs = ([(e.version, k) for k, e in self.entries.items()] if by_version is None
                     else by_version.items())
            self.by_version = by_version = dict(sorted(pairs))
            self.sorted = True
        out: list[tuple[str, Entry]] = []
        for v in reversed(by_version):
            if v <= version:
                break
            key = by_version[v]
            out.append((key, self.entries[key]))
        out.reverse()
        return out
