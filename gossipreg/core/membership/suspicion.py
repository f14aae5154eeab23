"""Lifeguard suspicion timer.

Rules: it starts at the maximum timeout and shrinks toward the minimum as independent peers
confirm the suspicion (each confirmer counted once). It also keeps the time
of the next reminder to the suspect (see :mod:`gossipreg.core.membership.swim`)."""

from __future__ import annotations

from gossipreg.core.formulas import suspicion_timeout

__all__ = ["Suspicion"]


class Suspicion:
    """Suspicion of one member, started at ``start`` by ``source``.

    Fields: ``min_timeout`` and ``max_timeout`` (seconds) bound the timer, which starts at the
    maximum; ``expected`` is how many independent confirmations bring it to the minimum;
    ``confirmers`` the members that reported it (the source included); ``deadline`` when the
    member is declared DEAD; ``remind_at`` when the suspect is next told directly."""

    __slots__ = ("confirmers", "deadline", "expected", "max_timeout", "min_timeout", "remind_at",
                 "start")

    def __init__(self, start: float, min_timeout: float, max_timeout: float, expected: int,
                 source: str) -> None:
        self.start = start
        self.min_timeout = min_timeout
        self.max_timeout = max_timeout
        self.expected = expected
        self.confirmers = {source}
        self.deadline = start + suspicion_timeout(min_timeout, max_timeout, 0, expected)
        self.remind_at = start + self.remind_every

    @property
    def remind_every(self) -> float:
        """Three reminders fit in the shortest timeout."""
        return self.min_timeout / 3

    def confirm(self, source: str) -> bool:
        """Count a confirmation; True when ``source`` is new (then it is worth re-gossiping)."""
        if source in self.confirmers or len(self.confirmers) > self.expected:
            return False
        self.confirmers.add(source)
        self.deadline = self.start + suspicion_timeout(
            self.min_timeout, self.max_timeout, len(self.confirmers) - 1, self.expected)
        return True
