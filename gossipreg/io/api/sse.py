"""Server-sent events that resume, blocking list queries, and single-use stream tickets.

- ``GET /v1/events``: every event goes out as ``id: <stream>-<seq>``, ``event: <type>``,
  ``data: <json>``, after one ``retry:``. A client reconnecting with ``Last-Event-ID`` (or
  ``?since=``) gets every event after it exactly once from the node's ring, or first an
  ``event: reset`` when that id is unknown, garbage, from another stream (the node restarted)
  or no longer held: it must list again. Never a 500 for a bad id.
- Lists (``GET /v1/agents``, ``GET /v1/members``) carry the node's position
  (``X-Gossipreg-Index``, ``X-Gossipreg-Stream``, ``X-Gossipreg-Event-Id``) and take
  ``?index=N&wait=30s`` to answer only once something happened after N (Consul's blocking
  query): list, then watch from the position, and nothing is missed or doubled.
- A browser's ``EventSource`` cannot send ``Authorization``, and a token must not sit in a
  logged URL: ``POST /v1/events/ticket`` (with the token) buys a ticket that opens one stream
  (``?ticket=``) within a minute.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import RegistryEvent, RegistryEventType
from gossipreg.io.event_ring import event_id

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["MAX_WAIT", "RETRY_MS", "TICKET_TTL", "Tickets", "blocking_position",
           "position_headers", "stream_events"]

RETRY_MS = 2000
MAX_WAIT = 600.0  # s, the longest ?wait=
TICKET_TTL = 60.0  # s a ticket may wait before it opens its stream
KEEPALIVE = 15.0
_WAIT = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_wait(text: str) -> float:
    """``30s``, ``500ms``, ``2m`` or plain seconds, at most :data:`MAX_WAIT`."""
    m = _WAIT.match(text.strip())
    if m is None:
        raise InvalidArgumentError(
            f"wait must be a duration like 30s or 500ms, at most {MAX_WAIT:.0f}s")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not 0 < value <= MAX_WAIT:
        raise InvalidArgumentError(f"wait must be more than 0s and at most {MAX_WAIT:.0f}s")
    return value


async def blocking_position(node: NodeRunner, index: int | None, wait: str | None) -> None:
    """Honour ``?index=N&wait=D`` (checked by ``BlockingParams``; wait defaults to 30s when
    only index is given)."""
    if index is None:
        if wait is not None:
            raise InvalidArgumentError("wait needs index")
        return
    await node.wait_index(index, parse_wait(wait) if wait is not None else 30.0)


def position_headers(node: NodeRunner) -> dict[str, str]:
    ring = node.ring
    return {"X-Gossipreg-Index": str(ring.seq), "X-Gossipreg-Stream": ring.stream_id,
            "X-Gossipreg-Event-Id": ring.position}


class Tickets:
    """Single-use tickets for one stream each, valid :data:`TICKET_TTL` seconds."""

    def __init__(self, ttl: float = TICKET_TTL, limit: int = 1024) -> None:
        self.ttl = ttl
        self.limit = limit
        self._open: dict[str, float] = {}

    def issue(self) -> str:
        now = time.monotonic()
        self._open = {t: exp for t, exp in self._open.items() if exp > now}
        if len(self._open) >= self.limit:
            raise InvalidArgumentError(f"too many open tickets (at most {self.limit})")
        ticket = secrets.token_urlsafe(24)
        self._open[ticket] = now + self.ttl
        return ticket

    def redeem(self, ticket: str) -> bool:
        """True once for a ticket issued less than ``ttl`` ago."""
        exp = self._open.pop(ticket, None)
        return exp is not None and exp > time.monotonic()


def _frame(ev: RegistryEvent, stream_id: str, data: dict[str, Any]) -> bytes:
    kind = ev.event_type.value
    return (f"id: {event_id(stream_id, ev.seq)}\nevent: {kind}\n"
            f"data: {json.dumps(data)}\n\n").encode()


async def stream_events(request: web.Request, node: NodeRunner, to_json: Any,
                        types_text: str | None, since: str | None) -> web.StreamResponse:
    """The SSE response of ``GET /v1/events`` (``types_text`` checked by ``EventsParams``;
    ``Last-Event-ID`` wins over ``since``)."""
    types = None
    if types_text is not None:
        types = [RegistryEventType(t) for t in types_text.split(",") if t]
    since = request.headers.get("Last-Event-ID", since)
    stream = node.subscribe(types, since=since)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    stream_id = node.ring.stream_id
    try:
        await resp.write(f"retry: {RETRY_MS}\n\n".encode())
        while True:
            ev = await stream.get(timeout=KEEPALIVE)
            if ev is None:
                if stream.closed:
                    break
                await resp.write(b": keep-alive\n\n")
                continue
            await resp.write(_frame(ev, stream_id, to_json(ev)))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        stream.close()
    return resp
