"""Circuit breakers, one per agent, local to the node that sends (never gossiped).

Closed: the agent is chosen as usual. A failed send opens it: the agent is skipped for a
cooldown of ``base`` seconds, doubled with each further consecutive failure up to ``ceiling``.
When the cooldown has passed it is half-open: one send may try it (others still skip it while
that trial is in flight); success closes it, failure opens it again for the next, longer,
cooldown. A failed send never writes a status: the owner's heartbeats and checks judge health.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["BreakerState", "Breakers"]


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Breaker:
    failures: int = 0
    until: float = 0.0
    trial: bool = False


class Breakers:
    """The breakers of one node's sends (times from the caller's monotonic clock)."""

    def __init__(self, base: float = 1.0, ceiling: float = 60.0) -> None:
        self.base = base
        self.ceiling = ceiling
        self._b: dict[str, _Breaker] = {}

    def cooldown(self, failures: int) -> float:
        """The cooldown after ``failures`` consecutive failures."""
        return min(self.ceiling, self.base * 2.0 ** max(0, failures - 1))

    def state(self, agent_id: str, now: float) -> BreakerState:
        b = self._b.get(agent_id)
        if b is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < b.until else BreakerState.HALF_OPEN

    def cooling(self, now: float) -> set[str]:
        """Agents to skip now: open, or half-open with a trial in flight."""
        return {a for a, b in self._b.items() if now < b.until or b.trial}

    def begin(self, agent_id: str, now: float) -> None:
        """A send to ``agent_id`` starts: if half-open, it is the trial."""
        b = self._b.get(agent_id)
        if b is not None and now >= b.until:
            b.trial = True

    def success(self, agent_id: str) -> None:
        self._b.pop(agent_id, None)

    def failure(self, agent_id: str, now: float) -> float:
        """Open (again); returns the cooldown chosen."""
        b = self._b.setdefault(agent_id, _Breaker())
        b.failures += 1
        b.trial = False
        wait = self.cooldown(b.failures)
        b.until = now + wait
        return wait

    def release(self, agent_id: str) -> None:
        """A send ended without a verdict on the agent (cancelled): its trial is over."""
        b = self._b.get(agent_id)
        if b is not None:
            b.trial = False

    def snapshot(self, now: float) -> dict[str, dict[str, object]]:
        """Agent id -> state, consecutive failures and seconds of cooldown left."""
        return {a: {"state": self.state(a, now).value, "failures": b.failures,
                    "cooldown_left": max(0.0, round(b.until - now, 3))}
                for a, b in sorted(self._b.items())}
