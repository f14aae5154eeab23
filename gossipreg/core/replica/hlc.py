"""Hybrid logical clock.

Rules: a stamp is ``(wall_ms, logical, node)``. Stamps a node issues are strictly increasing;
observing a remote stamp moves the clock past it, so a write made after seeing another write
always sorts after it (causality), while ``wall_ms`` never runs ahead of the largest wall time
seen. A remote stamp further than ``max_drift_ms`` ahead of our wall clock is not followed (a
badly skewed or hostile peer cannot drag the mesh into the future); the caller still decides
what to do with it. Ties between equal ``(wall_ms, logical)`` are broken by the writer's node
id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gossipreg.core.errors import InvalidArgumentError

__all__ = ["HybridClock", "Stamp"]

_MAX_INT = 2**63 - 1


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    """A hybrid-logical-clock timestamp; ordered by ``(wall_ms, logical, node)``."""

    wall_ms: int
    logical: int
    node: str

    def to_wire(self) -> list[Any]:
        return [self.wall_ms, self.logical, self.node]

    @classmethod
    def from_wire(cls, raw: object) -> Stamp:
        """Parse a wire stamp; raises :class:`InvalidArgumentError` on any malformed value."""
        if not isinstance(raw, list) or len(raw) != 3:
            raise InvalidArgumentError("stamp must be a 3-item list")
        wall, logical, node = raw
        if type(wall) is not int or type(logical) is not int or not isinstance(node, str):
            raise InvalidArgumentError("stamp items must be (int, int, str)")
        if not (0 <= wall <= _MAX_INT and 0 <= logical <= _MAX_INT) or not 0 < len(node) <= 255:
            raise InvalidArgumentError("stamp out of range")
        return cls(wall, logical, node)


class HybridClock:
    """The clock of one node. Feed it wall time in milliseconds; it never reads a clock itself."""

    __slots__ = ("_logical", "_wall", "max_drift_ms", "node")

    def __init__(self, node: str, max_drift_ms: int = 60_000) -> None:
        self.node = node
        self.max_drift_ms = max_drift_ms
        self._wall = 0
        self._logical = 0

    def now(self, wall_ms: int) -> Stamp:
        """A new stamp for a local event, greater than every stamp issued or observed so far."""
        if wall_ms > self._wall:
            self._wall, self._logical = wall_ms, 0
        else:
            self._logical += 1
        return Stamp(self._wall, self._logical, self.node)

    def observe(self, stamp: Stamp, wall_ms: int) -> bool:
        """Move the clock past a received stamp. Returns False (and ignores it) when the stamp is
        more than ``max_drift_ms`` ahead of ``wall_ms``."""
        if stamp.wall_ms - wall_ms > self.max_drift_ms:
            return False
        top = max(self._wall, stamp.wall_ms, wall_ms)
        if top == self._wall and top == stamp.wall_ms:
            self._logical = max(self._logical, stamp.logical) + 1
        elif top == self._wall:
            self._logical += 1
        elif top == stamp.wall_ms:
            self._logical = stamp.logical + 1
        else:
            self._logical = 0
        self._wall = top
        return True

    @property
    def last(self) -> tuple[int, int]:
        """``(wall_ms, logical)`` of the latest stamp issued or observed."""
        return self._wall, self._logical
