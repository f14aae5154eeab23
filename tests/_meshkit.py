"""Test helpers for real-HTTP meshes on 127.0.0.1 (port 0): bounded waits, an SSE collector
built on httpx-sse, and a one-way hold on a link made by the test (not by the product)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.errors import CodecError
from gossipreg.core.node import Received
from gossipreg.core.types import MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.keyring import Keyring
from tests.support import until  # re-exported for the tests that import it from here


async def http_mesh(names: list[str], **cfg: Any) -> list[GossipNode]:
    """Nodes over real HTTP on 127.0.0.1 port 0, joined through the first; all ALIVE."""
    config = NodeConfig.local(**cfg)
    first = await GossipNode(names[0], config=config).start()
    nodes = [first]
    for name in names[1:]:
        nodes.append(await GossipNode(name, config=config, seeds=[first.address]).start())
    assert await until(lambda: all(
        sum(m.state is MemberState.ALIVE for m in x.members()) == len(names) for x in nodes))
    return nodes


class Held:
    """While active, ``receiver`` drops every packet sent by ``sender_id`` (a one-way cut of
    that link, at the receiving end, so replies riding in HTTP responses are held too)."""

    def __init__(self, receiver: GossipNode, sender_id: str) -> None:
        core = receiver.core
        self.active = True
        self.dropped = 0
        inner = core.handle_packet

        def handle(payload: bytes, now: float, src_addr: str | None = None,
                   **kw: Any) -> Received:
            if self.active:
                try:
                    keys = core.keys
                    codec = Codec(receiver.config.cluster, Keyring(keys) if keys else None)
                    src = codec.decode(payload)[1]
                except CodecError:
                    src = None
                if src == sender_id:
                    self.dropped += 1
                    return Received(False, "held_by_test", None)
            return inner(payload, now, src_addr, **kw)

        core.handle_packet = handle  # type: ignore[method-assign]

    def release(self) -> None:
        self.active = False


class SseCollector:
    """Reads a node's ``/v1/events`` with httpx-sse in the background; keeps every event
    (type, id, decoded data)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.retry: int | None = None
        self.opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=None) as client, aconnect_sse(
                client, "GET", self.url, headers=self.headers) as es:
            self.opened.set()
            async for sse in es.aiter_sse():
                if sse.retry is not None:
                    self.retry = sse.retry
                if sse.data:
                    self.events.append((sse.event, sse.id, json.loads(sse.data)))

    async def start(self) -> SseCollector:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.opened.wait(), 5.0)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task

    def of(self, kind: str, agent_id: str | None = None) -> list[dict[str, Any]]:
        return [d for k, _, d in self.events
                if k == kind and (agent_id is None or d.get("agent_id") == agent_id)]
