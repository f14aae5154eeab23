"""A bounded subscription to a node's events (what ``NodeRunner.subscribe`` returns).

A slow consumer never blocks the node: when the buffer is full the oldest event is dropped and
counted, and the consumer gets a ``STREAM_RESET`` (reason ``dropped``) where the loss happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gossipreg.core.types import RegistryEvent, RegistryEventType
from gossipreg.io.event_ring import EventRing

__all__ = ["EventStream", "Subscriptions", "call_listeners", "reset_event"]

log = logging.getLogger("gossipreg.io.runner")


def call_listeners(listeners: list[Callable[[RegistryEvent], Any]], ev: RegistryEvent,
                   tasks: set[asyncio.Future[Any]]) -> None:
    """Call every listener with ``ev`` (an async one is scheduled, its task kept in ``tasks``
    until done); a listener's bug is logged and must not stop the node."""
    for cb in list(listeners):
        try:
            res = cb(ev)
            if isinstance(res, Awaitable):
                task = asyncio.ensure_future(res)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except Exception:
            log.exception("event listener failed")


def reset_event(ring: EventRing, reason: str, seq: int | None = None) -> RegistryEvent:
    """The event that tells a consumer its stream does not continue where it asked: it must
    list again. Its position (``seq``) is where the stream goes on from."""
    pos = ring.seq if seq is None else seq
    return RegistryEvent(RegistryEventType.STREAM_RESET, None, None, time.time(),
                         {"reason": reason, "stream_id": ring.stream_id}, pos)


class EventStream:
    """A bounded subscription to a node's events: when full, the oldest event is dropped and
    counted, so a slow consumer never blocks the node; the consumer then gets a
    ``STREAM_RESET`` (reason ``dropped``) in place of what it lost."""

    def __init__(self, ring: EventRing, on_close: Callable[[EventStream], None], maxsize: int,
                 types: frozenset[RegistryEventType] | None) -> None:
        self._ring = ring  # the node's: where a reset says the stream goes on from
        self._on_close = on_close
        self._buf: deque[RegistryEvent] = deque()
        self._maxsize = maxsize
        self._types = types
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False
        self._gap = False  # events were dropped since the consumer last took one

    def deliver(self, ev: RegistryEvent) -> None:
        """Hand the stream an event (the node does this; a full buffer drops its oldest)."""
        if (self._types is not None and ev.event_type not in self._types
                and ev.event_type is not RegistryEventType.STREAM_RESET):
            return
        if len(self._buf) >= self._maxsize:
            self._buf.popleft()
            self.dropped += 1
            self._gap = True
        self._buf.append(ev)
        self._ready.set()

    def _take(self) -> RegistryEvent:
        if self._gap:
            # The consumer learns of the loss where it happened.
            self._gap = False
            return reset_event(self._ring, "dropped", self._buf[0].seq - 1)
        return self._buf.popleft()

    async def get(self, timeout: float | None = None) -> RegistryEvent | None:
        """The next event, or None after ``timeout`` seconds (or once closed and drained)."""
        while not self._buf:
            if self.closed:
                return None
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._take()

    def get_nowait(self) -> RegistryEvent | None:
        return self._take() if self._buf else None

    def __len__(self) -> int:
        return len(self._buf)

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._on_close(self)

    def __aiter__(self) -> AsyncIterator[RegistryEvent]:
        return self

    async def __anext__(self) -> RegistryEvent:
        ev = await self.get()
        if ev is None:
            raise StopAsyncIteration
        return ev


class Subscriptions(set[EventStream]):
    """A node's open subscriptions, and the events dropped by those since closed (so that the
    total only grows)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_drops = 0

    def closed(self, s: EventStream) -> None:
        """Forget a closed stream, keeping its drops (a stream's ``on_close``)."""
        if s in self:
            self.discard(s)
            self.closed_drops += s.dropped

    @property
    def dropped(self) -> int:
        """Events dropped by full buffers, by open and closed subscriptions."""
        return self.closed_drops + sum(s.dropped for s in self)

    @property
    def depth(self) -> int:
        """Events waiting in the open subscriptions' buffers."""
        return sum(len(s) for s in self)
