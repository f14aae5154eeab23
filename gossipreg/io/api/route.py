"""Select and send over HTTP, on every node: ``POST /v1/select``, ``POST /v1/send`` (JSON, or
server-sent events with ``"stream": true``) and ``PUT /v1/agents/{id}/load``.

Rules:
- The node's one router (``io.route.router``) answers, so Python, HTTP, the CLI and the MCP
  tools share cursors, cooldowns and counters, and refuse bad input with the same message:
  400 ``invalid_argument``; no matching agent 404 ``not_found``; no agent answered 502
  ``unavailable`` with every attempt; a load for an agent hosted elsewhere 409.
- ``/v1/send`` makes this node call URLs that any owner published, so it is never an open
  relay: with a token it needs the token (as every route does); without one it answers only
  callers on a loopback address (403 otherwise).
- Streaming: events ``attempt``, ``response`` (each A2A ``StreamResponse`` as JSON) and finally
  ``result`` or ``error`` (the error envelope, with the attempts).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gossipreg.core.errors import InvalidArgumentError, NoMatchError
from gossipreg.core.route.select import Candidate
from gossipreg.io.api.errors import envelope
from gossipreg.io.api.route_models import LoadBody, SelectBody, SendBody, parse_body
from gossipreg.io.route.a2a import A2AMissingError
from gossipreg.io.route.router import Router, SendFailedError, router_for

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["candidate_json", "close_router", "route_handlers"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def candidate_json(c: Candidate) -> dict[str, Any]:
    """A candidate as the HTTP API, the CLI and the MCP tools show it."""
    e = c.endpoint
    return {"agent_id": c.agent_id, "node_id": c.node_id, "name": c.name,
            "endpoint": None if e is None else {"url": e.url, "protocolBinding": e.binding,
                                                "protocolVersion": e.version},
            "score": round(c.score, 6), "status": c.status.value,
            "load": None if c.load is None else {"active_tasks": c.load.active_tasks,
                                                 "max_concurrency": c.load.max_concurrency},
            "why": c.why}


def _failure(e: Exception) -> web.Response:
    if isinstance(e, SendFailedError):
        resp = envelope(502, str(e))
        body = json.loads(bytes(resp.body))  # type: ignore[arg-type]
        body["code"] = "unavailable"
        body["attempts"] = [a.to_json() for a in e.attempts]
        return web.json_response(body, status=502)
    if isinstance(e, NoMatchError):
        return envelope(404, str(e))
    if isinstance(e, A2AMissingError):
        return envelope(503, str(e))
    return envelope(400, str(e))


async def _body(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise InvalidArgumentError("body must be valid JSON") from None


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


class _Route:
    def __init__(self, node: NodeRunner, token: str | None) -> None:
        self.node = node
        self.token = token

    @property
    def router(self) -> Router:
        return router_for(self.node)

    def _query(self, b: SelectBody, sendable: bool = False) -> Any:
        return self.router.query(b.text, capability=b.capability, agent_ids=b.agent_ids,
                                 filters=b.filters, status=b.status, k=b.k,
                                 verified_only=b.verified_only,
                                 sendable=sendable)

    async def select(self, request: web.Request) -> web.Response:
        try:
            b = parse_body(SelectBody, await _body(request))
            got = self.router.choose(self._query(b), b.strategy)
        except (InvalidArgumentError, NoMatchError) as e:
            return _failure(e)
        return web.json_response({"candidates": [candidate_json(c) for c in got]})

    async def send(self, request: web.Request) -> web.StreamResponse:
        if self.token is None and not _loopback(request):
            return envelope(403, "send is open only to loopback callers when the node has "
                                 "no token (start it with --token)")
        try:
            b = parse_body(SendBody, await _body(request))
            plan = self.router.plan(b.message, self._query(b), b.strategy, deadline=b.deadline,
                                    attempts=b.attempts, idempotent=b.idempotent,
                                    stream=b.stream)
            if not b.stream:
                return web.json_response((await self.router.send(plan)).to_json())
            # Selection errors answer as JSON, before the stream opens.
            self.router.choose(plan.query, plan.strategy)
        except (InvalidArgumentError, NoMatchError, SendFailedError, A2AMissingError) as e:
            return _failure(e)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)

        async def event(kind: str, data: Any) -> None:
            await resp.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
        try:
            async for kind, value in self.router.run(plan):
                await event(kind, value.to_json() if hasattr(value, "to_json") else value)
        except (InvalidArgumentError, NoMatchError, SendFailedError) as e:
            await event("error", json.loads(bytes(_failure(e).body)))  # type: ignore[arg-type]
        await resp.write_eof()
        return resp

    async def set_load(self, request: web.Request) -> web.Response:
        aid = request.match_info["agent_id"]
        try:
            b = parse_body(LoadBody, await _body(request))
            if self.node.get(aid) is None:
                return envelope(404, "unknown agent")
            ok = await self.router.set_load(aid, b.active_tasks, b.max_concurrency)
        except InvalidArgumentError as e:
            return envelope(400, str(e))
        if not ok:
            v = self.node.get(aid)
            owner = v.node_id if v is not None else "another node"
            return envelope(409, f"the load of {aid} is published by its owner node {owner}")
        return web.json_response({"ok": True})


def route_handlers(node: NodeRunner, token: str | None = None) -> dict[str, Handler]:
    """The handlers of ``POST /v1/select``, ``POST /v1/send`` and ``PUT
    /v1/agents/{id}/load`` by name (``select``, ``send``, ``set_load``), each checking
    ``token`` as the rest of the API does; :func:`gossipreg.io.api.routes.serve_http` mounts
    them and imports this module at the first request to one of them."""
    r = _Route(node, token)

    def guard(h: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if token is not None:
                got = request.headers.get("Authorization", "")
                if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                    return envelope(401, "missing or wrong bearer token")
            return await h(request)
        return guarded

    return {"select": guard(r.select), "send": guard(r.send), "set_load": guard(r.set_load)}


async def close_router(node: NodeRunner) -> None:
    """Close the node's router (its HTTP client), at the application's cleanup."""
    await router_for(node).close()
