"""The owner's load gate: when a changed load of an agent it hosts is worth a write.

Rules:
- A load is ``(active_tasks, max_concurrency)`` under ``load/<id>``, written by the agent's
  owner only. It adds no steady traffic: a new value is written only when it *matters* against
  the value last written — the first value, a changed ``max_concurrency``, crossing full
  (``active_tasks >= max_concurrency``) either way, crossing idle (0) either way, or a move of at
  least a step, ``max(1, ceil(max_concurrency / 10))`` tasks (10 % of capacity).
- At most one write per agent per ``interval`` (``NodeConfig.load_interval``): a value that
  matters sooner is held and written when the interval has passed (the newest held value; one
  that no longer matters against the written one is dropped). ``next_deadline`` says when.
- Pure and deterministic: times are the caller's ``now``.
"""

from __future__ import annotations

import math

from gossipreg.core.types import AgentLoad

__all__ = ["LoadGate", "load_step", "matters"]


def load_step(max_concurrency: int) -> int:
    """The smallest move of ``active_tasks`` worth a write: 10 % of capacity, at least 1."""
    return max(1, math.ceil(max_concurrency / 10))


def matters(old: AgentLoad | None, new: AgentLoad) -> bool:
    """Whether ``new`` is worth writing when ``old`` is what the mesh has (see the rules)."""
    if old is None or old.max_concurrency != new.max_concurrency:
        return True
    if old.full != new.full or (old.active_tasks == 0) != (new.active_tasks == 0):
        return True
    return abs(new.active_tasks - old.active_tasks) >= load_step(new.max_concurrency)


class LoadGate:
    """Per-agent bookkeeping of the loads written and held (see the module rules)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._written: dict[str, tuple[AgentLoad, float]] = {}
        self._held: dict[str, AgentLoad] = {}

    def offer(self, agent_id: str, load: AgentLoad, now: float) -> AgentLoad | None:
        """A new load from the owner: the value to write now, or None (it does not matter,
        or it is held until the interval has passed)."""
        last = self._written.get(agent_id)
        if not matters(last[0] if last is not None else None, load):
            self._held.pop(agent_id, None)
            return None
        if last is not None and now < last[1] + self.interval:
            self._held[agent_id] = load
            return None
        self._held.pop(agent_id, None)
        self._written[agent_id] = (load, now)
        return load

    def due(self, now: float) -> list[tuple[str, AgentLoad]]:
        """The held values whose interval has passed (now counted as written), by agent id."""
        out = []
        for aid in sorted(self._held):
            at = self._written[aid][1]
            if now >= at + self.interval:
                held = self._held.pop(aid)
                self._written[aid] = (held, now)
                out.append((aid, held))
        return out

    def next_deadline(self) -> float | None:
        """When a held value becomes due (None: nothing held)."""
        if not self._held:
            return None
        return min(self._written[aid][1] + self.interval for aid in self._held)

    def written(self, agent_id: str) -> AgentLoad | None:
        """The value last written for ``agent_id`` (None: none since it was registered)."""
        last = self._written.get(agent_id)
        return None if last is None else last[0]

    def forget(self, agent_id: str) -> None:
        """The agent is gone: its next registration starts afresh."""
        self._written.pop(agent_id, None)
        self._held.pop(agent_id, None)
