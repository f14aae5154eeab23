"""The node's one event queue: every event it derives is numbered here, in order.

Rules:
- A node's events form one stream: ``stream_id`` (new at every start) and a sequence 1, 2, ...
  without gaps. ``(stream_id, seq)`` names an event for a consumer that wants to resume.
- The queue holds events until the host polls them; when it holds ``max_events`` the oldest
  is dropped and counted (a node never blocks on its consumers). Replay for reconnecting
  consumers is the host's (a bounded ring in the I/O layer), not the core's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from gossipreg.core.types import RegistryEvent

__all__ = ["EventQueue"]


class EventQueue:
    """Numbers events and holds them for ``poll``."""

    def __init__(self, stream_id: str, max_events: int = 100_000) -> None:
        self.stream_id = stream_id
        self.max_events = max_events
        self.seq = 0  # the number of the newest event
        self.dropped = 0
        self._q: deque[RegistryEvent] = deque()

    def extend(self, events: Iterable[RegistryEvent]) -> None:
        q, seq = self._q, self.seq
        for e in events:
            seq += 1
            q.append(RegistryEvent(e[0], e[1], e[2], e[3], e[4], seq))
        self.seq = seq
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
