"""HTTP API of a node, on the same aiohttp server as the gossip endpoint.

Reads (JSON): ``GET /v1/agents`` (capability, status, runtime, tag, node, limit, offset),
``GET /v1/agents/{id}``, ``GET /v1/members``, ``GET /v1/health``, ``GET /v1/events`` (server-sent
events), ``GET /metrics`` (Prometheus text). Writes for runtimes that are not Python (the node that
receives the call owns the agent): ``POST /v1/agents``, ``DELETE /v1/agents/{id}``,
``PUT /v1/agents/{id}/status``, ``POST /v1/agents/{id}/heartbeat``. With a token configured every
route needs ``Authorization: Bearer <token>``. Bad input gets a 4xx with a message, never a 5xx.
There is no fault-injection route: the harness injects faults in the kernel (sim/mesh/netns.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from gossipreg.core.directory.cards import CardTooLargeError
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import AgentExistsError, InvalidArgumentError, NodeStateError
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentStatus, AgentView, MemberState, RegistryEvent
from gossipreg.io.api.ard import setup_ard
from gossipreg.io.api.cards import card_fields, card_handler
from gossipreg.io.api.health import health_report
from gossipreg.io.api.metrics import render_metrics
from gossipreg.io.api.openapi import serve_openapi
from gossipreg.io.api.sse import (
    TICKET_TTL,
    Tickets,
    blocking_position,
    position_headers,
    stream_events,
)
from gossipreg.io.checks import CheckRunner, heartbeat_contract, parse_check

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["agent_json", "event_json", "serve_http"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATES = {s: s.name.lower() for s in MemberState}
_BODY_LIMIT = 256 * 1024


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def agent_json(v: AgentView) -> dict[str, Any]:
    r = v.record
    return {
        "agent_id": r.agent_id, "name": r.name, "runtime_id": r.runtime_id,
        "node_id": v.node_id, "capabilities": list(r.capabilities),
        "description": r.description, "tags": list(r.tags), "status": v.status.value,
        "last_heartbeat": _iso(v.last_heartbeat), "last_heartbeat_unix": v.last_heartbeat,
        "heartbeat_count": v.heartbeat_count, "registered_at": _iso(r.registered_at),
        **card_fields(r),
    }


def event_json(ev: RegistryEvent) -> dict[str, Any]:
    return {"event_type": ev.event_type.value, "agent_id": ev.agent_id,
            "runtime_id": ev.runtime_id, "timestamp": _iso(ev.timestamp),
            "metadata": ev.metadata}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _status_param(text: str | None, default: AgentStatus | None) -> AgentStatus | None:
    if text is None:
        return default
    if text == "any":
        return None
    try:
        return AgentStatus(text)
    except ValueError:
        raise InvalidArgumentError(
            f"unknown status {text!r}: use one of {[s.value for s in AgentStatus]} or any"
        ) from None


def _int_param(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer") from None
    if value < 0:
        raise InvalidArgumentError(f"{name} must not be negative")
    return value


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _BODY_LIMIT:
        raise InvalidArgumentError("request body too large")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise InvalidArgumentError("body must be valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgumentError("body must be a JSON object")
    return body


class _Api:
    def __init__(self, node: NodeRunner) -> None:
        self.node = node
        self.tickets = Tickets()
        self.checks = CheckRunner(node)

    async def list_agents(self, request: web.Request) -> web.Response:
        q = request.query
        await blocking_position(request, self.node)  # ?index=&wait= (see gossipreg.io.api.sse)
        status = _status_param(q.get("status"), None)
        limit = _int_param(q.get("limit"), "limit")
        offset = _int_param(q.get("offset"), "offset") or 0
        cap = q.get("capability")
        tags = q.getall("tag", [])
        query = Query(capability=(cap,) if cap else (), status=status,
                      runtime_id=q.get("runtime"), tags=tuple(tags), node_id=q.get("node"),
                      limit=limit, offset=offset)
        # With a capability, tag or node filter, the index answers (agents that declare a
        # capability, ranked); a plain listing shows every agent in registration order.
        views = (self.node.read.list_agents(query) if query.is_listing and cap is None
                 else self.node.read.find(query))
        return web.json_response([agent_json(v) for v in views],
                                 headers=position_headers(self.node))

    async def get_agent(self, request: web.Request) -> web.Response:
        v = self.node.get(request.match_info["agent_id"])
        if v is None:
            return _error(404, "unknown agent")
        return web.json_response(agent_json(v))

    async def list_members(self, request: web.Request) -> web.Response:
        await blocking_position(request, self.node)
        return web.json_response([
            {"node_id": m.node_id, "address": m.address, "state": _STATES[m.state],
             "incarnation": m.incarnation, "generation": m.generation}
            for m in self.node.members()], headers=position_headers(self.node))

    def _health(self) -> dict[str, Any]:
        node = self.node
        return health_report(node.read.stats(), bool(node.seeds), node.join_watch.describe)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(self._health())

    async def ready(self, request: web.Request) -> web.Response:
        """Readiness for orchestrators: 200 once joined, 503 before (and while leaving)."""
        report = self._health()
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def register(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        unknown = set(body) - {"agent_id", "name", "runtime_id", "capabilities", "description",
                               "tags", "card", "check"}
        if unknown:
            raise InvalidArgumentError(f"unknown fields: {sorted(unknown)}")
        if "agent_id" not in body:
            raise InvalidArgumentError("agent_id is required")
        check = parse_check(body["check"]) if "check" in body else None
        try:  # name, description and capabilities left out come from the card
            record = make_record(
                body["agent_id"], body.get("name"), body.get("runtime_id", self.node.name),
                body.get("capabilities"), description=body.get("description"),
                tags=body.get("tags", []), card=body.get("card"))
        except CardTooLargeError as e:
            return _error(413, str(e))
        view = self.node.register(record)
        if check is not None:
            self.checks.add(view.agent_id, check)
        out = {**agent_json(view), "heartbeat": heartbeat_contract(self.node, check)}
        return web.json_response(out, status=201,
                                 headers={"Location": f"/v1/agents/{quote(view.agent_id, '')}"})

    async def deregister(self, request: web.Request) -> web.Response:
        aid = request.match_info["agent_id"]
        if self.node.get(aid) is None:
            return _error(404, "unknown agent")
        return web.json_response({"deregistered": await self.node.deregister(aid)})

    async def set_status(self, request: web.Request) -> web.Response:
        aid = request.match_info["agent_id"]
        body = await _json_body(request)
        status = _status_param(body.get("status") if isinstance(body.get("status"), str)
                               else "?", None)
        # The caller's words: ``reason`` (``cause``, its old name, still accepted).
        reason = body.get("reason", body.get("cause", "manual"))
        if status is None or not isinstance(reason, str):
            raise InvalidArgumentError("status must be a status name; reason a string")
        if self.node.get(aid) is None:
            return _error(404, "unknown agent")
        return web.json_response({"ok": self.node.set_status(aid, status, reason[:64])})

    async def heartbeat(self, request: web.Request) -> web.Response:
        aid = request.match_info["agent_id"]
        if self.node.get(aid) is None:
            return _error(404, "unknown agent")
        return web.json_response({"ok": await self.node.heartbeat(aid)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        return await stream_events(request, self.node, event_json)

    async def ticket(self, request: web.Request) -> web.Response:
        return web.json_response({"ticket": self.tickets.issue(), "expires_in": TICKET_TTL},
                                 status=201)

    async def prometheus(self, request: web.Request) -> web.Response:
        node = self.node
        text = render_metrics(node.read.stats(), node.read.metrics(),
                              stream_drops=node.stream_drops,
                              send_errors=node.transport.send_errors,
                              asyncio_tasks=len(asyncio.all_tasks()),
                              transport=node.transport.stats())
        resp = web.Response(text=text)
        resp.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
        return resp


def _guard(token: str | None, handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if token is not None:
            got = request.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                return _error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except AgentExistsError as e:
            return _error(409, str(e))
        except (InvalidArgumentError, ValueError) as e:
            return _error(400, str(e))
        except NodeStateError as e:
            return _error(409, str(e))
    return guarded


def serve_http(node: NodeRunner, app: web.Application, *, token: str | None = None) -> None:
    """Mount the node's HTTP API (and its ARD and card routes) on ``app``, the aiohttp
    application of the node's HTTP transport (or any other); with ``token``, every route but
    the OpenAPI document needs ``Authorization: Bearer <token>``."""
    api = _Api(node)
    r = app.router

    async def stop_checks(app: web.Application) -> None:
        await api.checks.close()

    app.on_cleanup.append(stop_checks)
    from gossipreg.io.api.errors import operator_errors

    app.middlewares.append(operator_errors)

    def g(h: Handler) -> Handler:
        return _guard(token, h)

    r.add_get("/v1/agents", g(api.list_agents))
    r.add_post("/v1/agents", g(api.register))
    r.add_get("/v1/agents/{agent_id}", g(api.get_agent))
    r.add_get("/v1/agents/{agent_id}/card", g(card_handler(node)))
    r.add_delete("/v1/agents/{agent_id}", g(api.deregister))
    r.add_put("/v1/agents/{agent_id}/status", g(api.set_status))
    r.add_post("/v1/agents/{agent_id}/heartbeat", g(api.heartbeat))
    r.add_get("/v1/members", g(api.list_members))
    r.add_get("/v1/health", g(api.health))
    guarded_events = g(api.events)

    async def events(request: web.Request) -> web.StreamResponse:
        # A single-use ticket (bought with the token) stands in for the token on one stream.
        ticket = request.query.get("ticket")
        if ticket is not None and api.tickets.redeem(ticket):
            return await _guard(None, api.events)(request)
        if ticket is not None:
            return _error(401, "unknown, used or expired ticket")
        return await guarded_events(request)

    r.add_get("/v1/health/ready", g(api.ready))
    r.add_get("/v1/events", events)
    r.add_post("/v1/events/ticket", g(api.ticket))
    r.add_get("/metrics", g(api.prometheus))
    setup_ard(app, node, token=token)
    r.add_get("/v1/openapi.json", serve_openapi)
