"""Counters of one node: packets and bytes in and out, drops by reason, bytes by category."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gossipreg.core.messages import Tag

__all__ = ["CATEGORIES", "Metrics"]

log = logging.getLogger("gossipreg.core.drops")
# A flood of bad packets must not become a flood of log lines: one line per reason per period.
DROP_LOG_PERIOD = 10.0

# Which traffic class each message tag belongs to, for the byte split.
CATEGORIES: dict[int, str] = {
    Tag.PING: "membership", Tag.ACK: "membership", Tag.PING_REQ: "membership",
    Tag.NACK: "membership", Tag.ALIVE: "membership", Tag.SUSPECT: "membership",
    Tag.DEAD: "membership", Tag.LEFT: "membership", Tag.WRITE: "broadcast",
    Tag.SYNC: "anti_entropy", Tag.SYNC_ACK: "anti_entropy", Tag.SYNC_ACK2: "anti_entropy",
    Tag.REQUEST: "requests", Tag.RESPONSE: "requests", Tag.BEACON: "broadcast",
}


@dataclass(slots=True)
class Metrics:
    """Plain counters; the I/O layer renders them in Prometheus format."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    join_attempts: int = 0
    duplicates_in: int = 0
    gap_repairs: int = 0
    member_transitions: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    bytes_out_by_category: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(sorted(set(CATEGORIES.values())), 0))

    _logged: dict[str, tuple[float, int]] = field(default_factory=dict)

    def drop(self, reason: str, now: float | None = None) -> None:
        """Count a dropped packet or message; log it at most once per reason and period."""
        total = self.dropped.get(reason, 0) + 1
        self.dropped[reason] = total
        if now is None:
            return
        last = self._logged.get(reason)
        if last is None or now - last[0] >= DROP_LOG_PERIOD:
            since = total - (last[1] if last is not None else 0)
            log.warning("dropped %d packet(s) or message(s): %s (%d in all)", since, reason,
                        total)
            self._logged[reason] = (now, total)

    def count_out(self, tag: int, size: int) -> None:
        cat = CATEGORIES.get(tag, "other")
        self.bytes_out_by_category[cat] = self.bytes_out_by_category.get(cat, 0) + size

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())
