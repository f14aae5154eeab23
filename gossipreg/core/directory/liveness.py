"""The owner's heartbeat judge: when each agent it hosts was last heard, and which verdict is due.

Rules: one timer entry per armed agent (a heartbeat only moves its time; the entry re-arms
itself when it fires); silent for ``heartbeat_timeout`` -> ``UNHEALTHY`` is due, silent for
``auto_deregister_timeout`` -> ``EXPIRED``. The deadlines are computed with the same float
expressions as the checks, so verdicts fire exactly on time. No ``heartbeat_timeout``: never.
Agents armed together share one entry (a registration batch, and those of them still silent
when it fires): a heap entry per agent is ~64 B, and 100,000 agents registered at once would
carry 6 MB of identical deadlines. Verdicts due at one deadline come in agent id order, shared
entry or not.
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
        # Armed agents (each has a timer entry) -> when last heard; None once forgotten, until
        # its entry fires (a set of the armed beside it cost ~40 B an agent).
        self._last: dict[str, float | None] = {}
        self._heap: list[tuple[float, str]] = []  # (next deadline, agent id)
        self._shared: list[tuple[float, int, list[str]]] = []  # (deadline, tie, agent ids)
        self._ties = 0

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
        """:meth:`heard` of each (a registration batch: the new ones share one entry)."""
        timeout = self.cfg.heartbeat_timeout
        if timeout is None:
            return
        last = self._last
        new = [aid for aid in agent_ids if aid not in last]
        for aid in agent_ids:
            last[aid] = now
        self._arm(now + timeout, new)

    def _arm(self, deadline: float, agent_ids: list[str]) -> None:
        if len(agent_ids) == 1:
            heapq.heappush(self._heap, (deadline, agent_ids[0]))
        elif agent_ids:
            self._ties += 1
            heapq.heappush(self._shared, (deadline, self._ties, agent_ids))

    def forget(self, agent_id: str) -> None:
        """``agent_id`` is no longer hosted here (its timer entry lapses when it fires)."""
        if agent_id in self._last:
            self._last[agent_id] = None

    def next_deadline(self) -> float | None:
        heap, shared = self._heap, self._shared
        if heap and shared:
            return min(heap[0][0], shared[0][0])
        return heap[0][0] if heap else shared[0][0] if shared else None

    def due(self, now: float) -> Iterator[tuple[str, Verdict]]:
        """The verdicts due by ``now`` (an UNHEALTHY one may come again while it holds: the
        caller writes it once)."""
        heap, shared = self._heap, self._shared
        while (at := self.next_deadline()) is not None and at <= now:
            ids: list[str] = []
            while heap and heap[0][0] == at:
                ids.append(heapq.heappop(heap)[1])
            while shared and shared[0][0] == at:
                ids.extend(heapq.heappop(shared)[2])
            if len(ids) > 1:
                ids.sort()  # the order one entry per agent gives
            yield from self._fire(ids, now)

    def _fire(self, agent_ids: list[str], now: float) -> list[tuple[str, Verdict]]:
        """The verdicts of the agents whose entry fired, each agent's entry re-armed before
        they are handed out (those re-armed to one deadline share an entry again)."""
        timeout, expiry = self.cfg.heartbeat_timeout, self.cfg.auto_deregister_timeout
        out: list[tuple[str, Verdict]] = []
        again: dict[float, list[str]] = {}
        for aid in agent_ids:
            last = self._last.get(aid)
            if last is None or timeout is None:
                self._last.pop(aid, None)
                continue
            unhealthy_at, expire_at = last + timeout, last + expiry
            if expire_at <= now:
                self._last.pop(aid, None)
                out.append((aid, Verdict.EXPIRED))
                continue
            if unhealthy_at <= now:
                out.append((aid, Verdict.UNHEALTHY))
            again.setdefault(unhealthy_at if unhealthy_at > now else expire_at, []).append(aid)
        for deadline, ids in again.items():
            self._arm(deadline, ids)
        return out
