"""Lifeguard suspicion timer.

Rules: it starts at the maximum timeout and shrinks toward the minimum as independent peers
confirm the suspicion (each confirmer counted once). It also keeps the time
of the next reminder to the suspect (see :mod:`gossipreg.core.membership.swim`)."""

from __future__ import annotations

from gossipreg.core.formulas import suspicion_timeout

__all__ = ["Suspicion"]


class Suspicion:
    """Suspicion of one member, started at ``start`` by ``source``."""

    __slots__ = ("confirmers", "deadline", "expected", "hi", "lo", "remind_at", "start")

    def __init__(self, start: float, lo: float, hi: float, expected: int, source: str) -> None:
        self.start = start
        self.lo = lo
        self.hi = hi
        self.expected = expected
        self.confirmers = {source}
        self.deadline = start + suspicion_timeout(lo, hi, 0, expected)
        self.remind_at = start + self.remind_every

    @property
    def remind_every(self) -> float:
        """Three reminders fit in the shortest timeout."""
        return self.lo / 3

    def confirm(self, source: str) -> bool:
        """Count a confirmation; True when ``source`` is new (then it is worth re-gossiping)."""
        if source in self.confirmers or len(self.confirmers) > self.expected:
            return False
        self.confirmers.add(source)
        self.deadline = self.start + suspicion_timeout(
            self.lo, self.hi, len(self.confirmers) - 1, self.expected)
        return True
