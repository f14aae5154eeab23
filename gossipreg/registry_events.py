"""The events of :class:`~gossipreg.registry.AgentRegistry`: kaizen's ``event_queue``,
``subscribe``/``unsubscribe`` and the broadcaster task that calls the listeners, ``get_event``,
and the native ``events()`` stream: a part of the registry, kept apart from its calls.

Rules: each node event is derived once (a kaizen :class:`RegistryEvent`) for the queue and the
listeners alike; nothing here ever blocks the node (bounded queues, the oldest dropped and
counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from gossipreg.core.types import AgentView, RegistryEventType, event_type_of
from gossipreg.core.types import RegistryEvent as CoreEvent
from gossipreg.io.runner import NodeRunner
from gossipreg.registry_types import AgentMetadata, AgentRegistryConfig, RegistryEvent

__all__ = ["Callback", "RegistryEvents"]

log = logging.getLogger("gossipreg.registry")
_DEREGISTERED = RegistryEventType.AGENT_DEREGISTERED

Callback = Callable[[RegistryEvent], Any]


class RegistryEvents:
    """Event delivery of the registry (see the module rules)."""

    config: AgentRegistryConfig
    node: NodeRunner
    event_queue: asyncio.Queue[RegistryEvent]
    event_listeners: dict[RegistryEventType, list[Callback]]
    _running: bool
    _objects: dict[str, Any]
    _meta: dict[str, tuple[AgentView, AgentMetadata]]
    _explicit: set[str]
    _outbox: deque[RegistryEvent]
    _wake: asyncio.Event
    broadcast_dropped: int

    async def _ensure_node(self) -> NodeRunner:
        raise NotImplementedError

    @property
    def _room(self) -> int:
        """Events the listeners' queue takes before it drops (a registration makes two)."""
        return max(1, (self._outbox.maxlen or 1) - 2)

    async def _let_listeners_run(self) -> None:
        """Give the broadcaster one turn of the loop when listeners wait (a burst of writes
        never awaits otherwise): sync listeners then see every event, as in kaizen, and a
        writer is never held longer (a slow async listener still loses the oldest)."""
        if self._outbox and self._running:
            await asyncio.sleep(0)

    # ----------------------------------------------------------------- events
    def _takes_event(self, kind: RegistryEventType) -> bool:
        """Whether :meth:`_on_core_event` uses events of ``kind`` now (the node makes no
        AGENT_REGISTERED event nobody takes): deregistrations always (the caches), the rest
        for ``event_queue`` or a listener subscribed to the kind."""
        return (kind is _DEREGISTERED or self.config.enable_event_broadcasting
                or self._waits_event(kind))

    def _waits_event(self, kind: RegistryEventType) -> bool:
        """Whether a registration's event must be made as the call is made: for listeners
        (their queue gives them every event as it comes, as kaizen's broadcast does), not for
        ``event_queue`` alone (a read of it applies what is pending first)."""
        return bool(self._running and self.event_listeners.get(kind))

    def _on_core_event(self, ev: CoreEvent) -> None:
        """Keep the metadata cache current; feed the kaizen event queue and the listeners'
        broadcaster (never blocks). Each event is derived once for all of them."""
        kind = ev.event_type
        if kind is _DEREGISTERED and (aid := ev.agent_id) is not None:
            self._meta.pop(aid, None)
            self._objects.pop(aid, None)
            self._explicit.discard(aid)
        kev = None
        if self.config.enable_event_broadcasting:
            kev = RegistryEvent.from_core(ev)
            self.event_queue.put_nowait(kev)
        if self._running and self.event_listeners.get(kind):
            out = self._outbox
            if len(out) == out.maxlen:
                self.broadcast_dropped += 1  # the oldest goes (listeners never block us)
            out.append(kev or RegistryEvent.from_core(ev))
            self._wake.set()

    async def _broadcast_events(self) -> None:
        out, wake = self._outbox, self._wake
        while True:
            await wake.wait()
            wake.clear()
            while out:
                kaizen_ev = out.popleft()
                for cb in list(self.event_listeners.get(kaizen_ev.event_type, ())):
                    try:
                        res = cb(kaizen_ev)
                        if res is not None and isinstance(res, Awaitable):
                            await res
                    except Exception:
                        log.exception("event listener failed")

    def subscribe(self, event_type: RegistryEventType | str, callback: Callback) -> None:
        """Call ``callback(event)`` (sync or async) for every event of ``event_type`` (the
        enum or its value), from the broadcaster task started by :meth:`start`."""
        self.node.apply_pending()  # registered before it: their events are not its
        self.event_listeners.setdefault(event_type_of(event_type), []).append(callback)

    def unsubscribe(self, event_type: RegistryEventType | str, callback: Callback) -> None:
        cbs = self.event_listeners.get(event_type_of(event_type), [])
        if callback in cbs:
            cbs.remove(callback)

    async def get_event(self, timeout: float | None = None) -> RegistryEvent | None:
        """The next event from ``event_queue``, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.event_queue.get(), timeout)
        except TimeoutError:
            return None

    async def events(self, types: Sequence[RegistryEventType | str] | None = None,
                     since: str | None = None) -> AsyncIterator[RegistryEvent]:
        """Native API: ``async for event in registry.events(...)`` from now on, or after the
        ``event_id`` ``since`` (as :meth:`NodeRunner.subscribe`: a ``reset`` event first when
        that position cannot be resumed; list again then)."""
        await self._ensure_node()
        stream = self.node.subscribe(types, maxsize=max(1, self.config.event_queue_size),
                                     since=since)
        stream_id = self.node.ring.stream_id
        try:
            async for ev in stream:
                yield RegistryEvent.from_core(ev, stream_id)
        finally:
            stream.close()
