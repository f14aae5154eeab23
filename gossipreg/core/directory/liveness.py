"""The owner's heartbeat judge: when each agent it hosts was last heard, and which verdict is due.

Rules: one heap entry per armed agent (a heartbeat only moves its time; the entry re-arms
itself when it fires); silent for ``heartbeat_timeout`` -> ``UNHEALTHY`` is due, silent for
``auto_deregister_timeout`` -> ``EXPIRED``. The deadlines are computed with the same float
expressions as the checks, so verdicts fire exactly on time. No ``heartbeat_timeout``: never.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from enum import Enum

from gossipreg.core.config import NodeConfig

__all__ = ["HeartbeatJudge", "Verdict"]


class Verdict(Enum):
    UNHEALTHY = "unhealthy"
    EXPIRED = "expired"


class HeartbeatJudge:
    """The heartbeat deadlines of the agents this node hosts."""

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        # Armed agents (each has a heap entry) -> when last heard; None once forgotten, until
        # its entry fires (a set of the armed beside it cost ~40 B an agent).
        self._last: dict[str, float | None] = {}
        self._heap: list[tuple[float, str]] = []  # (next deadline, agent id)

    def heard(self, agent_id: str, now: float) -> None:
        """A registration or heartbeat of ``agent_id`` at ``now`` (nothing is kept without a
        ``heartbeat_timeout``: no verdict could use it)."""
        timeout = self.cfg.heartbeat_timeout
        if timeout is None:
            return
        armed = agent_id in self._last
        self._last[agent_id] = now
        if not armed:
            heapq.heappush(self._heap, (now + timeout, agent_id))

    def heard_many(self, agent_ids: list[str], now: float) -> None:
        """:meth:`heard` of each (a registration batch: one deadline, shared)."""
        timeout = self.cfg.heartbeat_timeout
        if timeout is None:
            return
        last, heap, deadline = self._last, self._heap, now + timeout
        for aid in agent_ids:
            armed = aid in last
            last[aid] = now
            if not armed:
                heapq.heappush(heap, (deadline, aid))

    def forget(self, agent_id: str) -> None:
        """``agent_id`` is no longer hosted here (its heap entry lapses when it fires)."""
        if agent_id in self._last:
            self._last[agent_id] = None

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> Iterator[tuple[str, Verdict]]:
        """The verdicts due by ``now`` (an UNHEALTHY one may come again while it holds: the
        caller writes it once)."""
        timeout, expiry = self.cfg.heartbeat_timeout, self.cfg.auto_deregister_timeout
        while self._heap and self._heap[0][0] <= now:
            _, aid = heapq.heappop(self._heap)
            last = self._last.get(aid)
            if last is None or timeout is None:
                self._last.pop(aid, None)
                continue
            unhealthy_at, expire_at = last + timeout, last + expiry
            if expire_at <= now:
                self._last.pop(aid, None)
                yield aid, Verdict.EXPIRED
                continue
            if unhealthy_at <= now:
                yield aid, Verdict.UNHEALTHY
            heapq.heappush(self._heap, (unhealthy_at if unhealthy_at > now else expire_at, aid))
