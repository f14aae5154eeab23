"""The recent events of a running node, for consumers that resume where they left.

An event's id is ``<stream id>-<seq>`` (the stream id is new at every start). A consumer that
resumes from an id of this stream still covered by the ring gets every later event exactly
once; any other id (another stream, one the ring no longer covers, from the future, garbage)
gets ``None``: the consumer must be told to start over (a reset), never given a silent gap.

A consumer can hold a position only once one was handed out (``position``, a subscription, a
resume): the ring keeps events from then on (``watched``). Until then it only counts them, so a
node nobody reads events from (an embedded registry) does not keep its last ``size`` events.
"""

from __future__ import annotations

import asyncio
from collections import deque

from gossipreg.core.types import RegistryEvent

__all__ = ["EventRing", "Waiters", "event_id", "parse_event_id"]


def event_id(stream_id: str, seq: int) -> str:
    return f"{stream_id}-{seq}"


def parse_event_id(text: str | None) -> tuple[str, int] | None:
    """``(stream id, seq)`` of an event id, or None when it is not one."""
    if not text or len(text) > 200:
        return None
    stream, sep, seq = text.rpartition("-")
    if not sep or not stream or not seq.isdigit() or len(seq) > 18:
        return None
    return stream, int(seq)


class EventRing:
    """The last ``size`` events of one stream."""

    def __init__(self, stream_id: str, size: int) -> None:
        self.stream_id = stream_id
        self._ring: deque[RegistryEvent] = deque(maxlen=size) if size else deque(maxlen=0)
        self.seq = 0  # the newest event's number
        self.watched = False  # a position was handed out: events are kept from then on

    def add(self, ev: RegistryEvent) -> None:
        if self.watched:
            if ev.seq != self.seq + 1:
                self._ring.clear()  # never replay across a gap
            self._ring.append(ev)
        self.seq = ev.seq

    @property
    def position(self) -> str:
        """The id of the newest event (``<stream>-0`` before the first)."""
        self.watched = True
        return event_id(self.stream_id, self.seq)

    def why_not(self, position: str | None) -> str:
        """Why :meth:`since` cannot resume at ``position``: ``garbage`` (not an event id),
        ``other_stream`` (another node or an earlier start of this one), ``ahead`` (a position
        this stream has not reached) or ``expired`` (the ring no longer holds what followed)."""
        parsed = parse_event_id(position)
        if parsed is None:
            return "garbage"
        if parsed[0] != self.stream_id:
            return "other_stream"
        return "ahead" if parsed[1] > self.seq else "expired"

    def since(self, position: str | None) -> list[RegistryEvent] | None:
        """Every event after ``position``, or None when that cannot be told (reset)."""
        self.watched = True
        parsed = parse_event_id(position)
        if parsed is None or parsed[0] != self.stream_id:
            return None
        after = parsed[1]
        if after > self.seq:
            return None
        if after == self.seq:
            return []
        ring = self._ring
        oldest = ring[0].seq if ring else self.seq + 1
        if after < oldest - 1:
            return None  # the ring no longer holds what came right after it
        return [e for e in ring if e.seq > after]


class Waiters:
    """Blocking queries parked until the node numbers its next event."""

    def __init__(self) -> None:
        self.parked: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self.parked)

    async def park(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        """Return when :meth:`wake` is called, or after ``timeout`` seconds."""
        fut: asyncio.Future[None] = loop.create_future()
        self.parked.append(fut)
        await asyncio.wait([fut], timeout=timeout)
        if not fut.done():
            fut.cancel()
            self.parked.remove(fut)

    def wake(self) -> None:
        parked, self.parked = self.parked, []
        for fut in parked:
            if not fut.done():
                fut.set_result(None)
