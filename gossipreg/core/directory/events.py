"""The node's one event queue: every event it derives is numbered here, in order.

Rules:
- A node's events form one stream: ``stream_id`` (new at every start) and a sequence 1, 2, ...
  without gaps, given as each event is made (``make``) and queued in that order (``extend``).
  ``(stream_id, seq)`` names an event for a consumer that wants to resume.
- The queue holds events until the host polls them; when it holds ``max_events`` the oldest
  is dropped and counted (a node never blocks on its consumers). Replay for reconnecting
  consumers is the host's (a bounded ring in the I/O layer), not the core's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from gossipreg.core.types import RegistryEvent, RegistryEventType

__all__ = ["EventQueue"]

_new = tuple.__new__  # a named tuple without its Python-level constructor: one per event


class EventQueue:
    """Numbers events and holds them for ``poll``."""

    def __init__(self, stream_id: str, max_events: int = 100_000) -> None:
        self.stream_id = stream_id
        self.max_events = max_events
        self.seq = 0  # the number of the newest event
        self.dropped = 0
        self._q: deque[RegistryEvent] = deque()
        self.poll_queue = self._q  # for the host's drain loop: popleft until empty

    def make(self, kind: RegistryEventType, agent_id: str | None, runtime_id: str | None,
             wall: float, meta: dict[str, Any]) -> RegistryEvent:
        """The next event of the stream (queue it with :meth:`extend`, in order)."""
        self.seq = seq = self.seq + 1
        return _new(RegistryEvent, (kind, agent_id, runtime_id, wall, meta, seq))

    def extend(self, events: Iterable[RegistryEvent]) -> None:
        q = self._q
        q.extend(events)
        over = len(q) - self.max_events
        if over > 0:
            for _ in range(over):
                q.popleft()
            self.dropped += over

    def poll(self) -> RegistryEvent | None:
        return self._q.popleft() if self._q else None

    def clear(self) -> None:
        """Forget the queued events (their numbers stay used)."""
        self._q.clear()

    def __len__(self) -> int:
        return len(self._q)
