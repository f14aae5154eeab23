"""HTTP API of a node, on the same aiohttp server as the gossip endpoint.

Reads (JSON): ``GET /v1/agents`` (capability, status, runtime, tag, node, limit, offset),
``GET /v1/agents/{id}``, ``GET /v1/members``, ``GET /v1/health``, ``GET /v1/events`` (server-sent
events), ``GET /metrics`` (Prometheus text). Writes for runtimes that are not Python (the node that
receives the call owns the agent): ``POST /v1/agents`` (``POST /v1/agents:batch`` for many:
:mod:`gossipreg.io.api.batch`), ``DELETE /v1/agents/{id}``, ``PUT /v1/agents/{id}/status``,
``POST /v1/agents/{id}/heartbeat``; select and send (``POST /v1/select``, ``POST /v1/send``,
``PUT /v1/agents/{id}/load``: ``io/api/route``). With a token configured every route needs
``Authorization: Bearer <token>`` (the health routes answer without it, with the state and
version only). Bodies and parameters are the models of :mod:`gossipreg.io.api.models`: an
unknown field or parameter is refused. Bad input gets a 4xx with a message, never a 5xx.
There is no fault-injection route: the harness injects faults in the kernel (sim/mesh/netns.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import (
    CardTooLargeError,
)
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentLoad, AgentStatus, AgentView, MemberState, RegistryEvent
from gossipreg.io.api.cards import card_fields, card_handler
from gossipreg.io.api.guard import Handler, token_ok
from gossipreg.io.api.guard import error as _error
from gossipreg.io.api.guard import guard as _guard
from gossipreg.io.api.health import health_report, public_health
from gossipreg.io.api.metrics import CONTENT_TYPE, NodeMetrics
from gossipreg.io.api.models import (
    BATCH_PATH,
    AgentIn,
    AgentsParams,
    EventsParams,
    MembersParams,
    NoParams,
    StatusIn,
)
from gossipreg.io.api.params import body_of, query_of
from gossipreg.io.api.sse import (
    TICKET_TTL,
    Tickets,
    blocking_position,
    position_headers,
    stream_events,
)
from gossipreg.io.api.tables import ARD_ROUTES
from gossipreg.io.api.ui import setup_ui
from gossipreg.io.checks import heartbeat_contract, parse_check

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["agent_json", "event_json", "lazy_handlers", "serve_http", "token_ok"]

_STATES = {s: s.name.lower() for s in MemberState}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def agent_json(v: AgentView, load: AgentLoad | None = None) -> dict[str, Any]:
    """An agent as the API shows it; ``load`` is what its owner published, if anything."""
    r = v.record
    return {
        "agent_id": r.agent_id, "name": r.name, "runtime_id": r.runtime_id,
        "node_id": v.node_id, "capabilities": list(r.capabilities),
        "description": r.description, "tags": list(r.tags), "status": v.status.value,
        "last_heartbeat": _iso(v.last_heartbeat), "last_heartbeat_unix": v.last_heartbeat,
        "heartbeat_count": v.heartbeat_count, "registered_at": _iso(r.registered_at),
        **card_fields(r),
        "load": None if load is None else {"active_tasks": load.active_tasks,
                                           "max_concurrency": load.max_concurrency},
    }


def event_json(ev: RegistryEvent) -> dict[str, Any]:
    return {"event_type": ev.event_type.value, "agent_id": ev.agent_id,
            "runtime_id": ev.runtime_id, "timestamp": _iso(ev.timestamp),
            "metadata": ev.metadata}


def _unknown(aid: str) -> web.Response:
    return _error(404, f"unknown agent {aid!r}")


class _Api:
    def __init__(self, node: NodeRunner, token: str | None, app: web.Application) -> None:
        self.node = node
        self.token = token
        self.exposition = NodeMetrics(node, app)
        self.tickets = Tickets()
        self.checks = node.checks

    async def list_agents(self, request: web.Request) -> web.Response:
        p = query_of(request, AgentsParams)
        await blocking_position(self.node, p.index, p.wait)
        status = None if p.status in (None, "any") else AgentStatus(p.status)
        query = Query(capability=(p.capability,) if p.capability else (), status=status,
                      runtime_id=p.runtime, tags=tuple(p.tag), node_id=p.node,
                      limit=p.limit, offset=p.offset or 0,
                      verified_only=p.verified_only)
        # With a capability, tag or node filter, the index answers (agents that declare a
        # capability, ranked); a plain listing shows every agent in registration order.
        views = (self.node.read.list_agents(query) if query.is_listing and p.capability is None
                 else self.node.read.find(query))
        load = self.node.read.load
        return web.json_response([agent_json(v, load(v.record.agent_id)) for v in views],
                                 headers=position_headers(self.node))

    async def get_agent(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        aid = request.match_info["agent_id"]
        v = self.node.get(aid)
        if v is None:
            return _unknown(aid)
        return web.json_response(agent_json(v, self.node.read.load(v.record.agent_id)))

    async def list_members(self, request: web.Request) -> web.Response:
        p = query_of(request, MembersParams)
        await blocking_position(self.node, p.index, p.wait)
        states = {s for s in (p.state or "any").split(",") if s}
        return web.json_response([
            {"node_id": m.node_id, "address": m.address, "state": _STATES[m.state],
             "incarnation": m.incarnation, "generation": m.generation}
            for m in self.node.members() if "any" in states or _STATES[m.state] in states],
            headers=position_headers(self.node))

    def _health(self, request: web.Request) -> dict[str, Any]:
        query_of(request, NoParams)
        node = self.node
        report = health_report(node.read.stats(), bool(node.seeds), node.join_watch.describe)
        report["search"] = node.searching.status()
        # Probes carry no token: they read the state and version, never names or addresses.
        if self.token is not None and "Authorization" not in request.headers:
            return public_health(report)
        if not token_ok(self.token, request):
            raise web.HTTPUnauthorized(text="missing or wrong bearer token")
        return report

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(self._health(request))

    async def ready(self, request: web.Request) -> web.Response:
        """Readiness for orchestrators: 200 once joined, 503 before (and while leaving)."""
        report = self._health(request)
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def register(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        body = await body_of(request, AgentIn)
        check = (parse_check(body.check.model_dump(exclude_none=True))
                 if body.check is not None else None)
        try:  # name, description and capabilities left out come from the card
            record = make_record(
                body.agent_id, body.name, body.runtime_id or self.node.name,
                body.capabilities, description=body.description, tags=body.tags or [],
                card=body.card)
        except CardTooLargeError as e:
            return _error(413, str(e))
        view = await self.node.register(record)
        if check is not None:
            self.checks.add(view.agent_id, check)
        out = {**agent_json(view), "heartbeat": heartbeat_contract(self.node, check)}
        return web.json_response(out, status=201,
                                 headers={"Location": f"/v1/agents/{quote(view.agent_id, '')}"})

    async def register_batch(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        from gossipreg.io.api.batch import AgentsBatchIn, register_batch  # at the first batch

        body = await body_of(request, AgentsBatchIn)
        return web.json_response(register_batch(self.node, self.checks, body, agent_json))

    async def deregister(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        aid = request.match_info["agent_id"]
        if self.node.get(aid) is None:
            return _unknown(aid)
        return web.json_response({"deregistered": await self.node.deregister(aid)})

    async def set_status(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        aid = request.match_info["agent_id"]
        body = await body_of(request, StatusIn)
        # The caller's words: ``reason`` (``cause``, its old name, still accepted).
        reason = body.reason if body.reason is not None else (body.cause or "manual")
        if self.node.get(aid) is None:
            return _unknown(aid)
        ok = await self.node.set_status(aid, AgentStatus(body.status), reason[:64])
        return web.json_response({"ok": ok})

    async def heartbeat(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        aid = request.match_info["agent_id"]
        if self.node.get(aid) is None:
            return _unknown(aid)
        return web.json_response({"ok": await self.node.heartbeat(aid)})

    async def events(self, request: web.Request) -> web.StreamResponse:
        p = query_of(request, EventsParams)
        return await stream_events(request, self.node, event_json, p.types, p.since)

    async def ticket(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        return web.json_response({"ticket": self.tickets.issue(), "expires_in": TICKET_TTL},
                                 status=201)

    async def prometheus(self, request: web.Request) -> web.Response:
        query_of(request, NoParams)
        resp = web.Response(body=self.exposition.render())
        resp.headers["Content-Type"] = CONTENT_TYPE
        return resp


async def _openapi(request: web.Request) -> web.Response:
    # The document's module (and the answers' models) at the first request for it.
    from gossipreg.io.api.openapi import serve_openapi

    return await serve_openapi(request)


def lazy_handlers(load: Callable[[], dict[str, Handler]]) -> Callable[[str], Handler]:
    """Route handlers whose module is imported at the first request to one of them:
    ``lazy(name)`` is a handler that calls ``load()`` once, then its handler ``name``."""
    handlers: dict[str, Handler] = {}

    def lazy(name: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not handlers:
                handlers.update(load())
            return await handlers[name](request)
        return handle
    return lazy


def _mount_ard(app: web.Application, node: NodeRunner, token: str | None) -> None:
    """The ARD manifests and registry API (:mod:`gossipreg.io.api.ard`, and the ARD document
    functions it imports): their modules at the first ARD request."""
    def load() -> dict[str, Handler]:
        from gossipreg.io.api.ard import ard_handlers

        return ard_handlers(node, token)

    lazy = lazy_handlers(load)
    for method, path, name in ARD_ROUTES:
        app.router.add_route(method, path, lazy(name))


def _mount_route(app: web.Application, node: NodeRunner, token: str | None) -> None:
    """Select, send and load (:mod:`gossipreg.io.api.route`): their module, with the router,
    the selection and the A2A client's wrapper, is imported at the first request to one of
    them (~0.3 MB a node nobody asks does not hold)."""
    def load() -> dict[str, Handler]:
        from gossipreg.io.api.route import route_handlers

        return route_handlers(node, token)

    async def close(app: web.Application) -> None:
        if "gossipreg.io.route.router" in sys.modules:  # a router may exist (Python API too)
            from gossipreg.io.api.route import close_router

            await close_router(node)

    lazy = lazy_handlers(load)
    app.on_cleanup.append(close)
    app.router.add_post("/v1/select", lazy("select"))
    app.router.add_post("/v1/send", lazy("send"))
    app.router.add_put("/v1/agents/{agent_id}/load", lazy("set_load"))


def serve_http(node: NodeRunner, app: web.Application, *, token: str | None = None,
               metrics_open: bool = False) -> None:
    """Mount the node's HTTP API (and its ARD and card routes) on ``app``, the aiohttp
    application of the node's HTTP transport (or any other). With ``token``, every route needs
    ``Authorization: Bearer <token>`` but the OpenAPI document, the page (``/ui``), the health
    routes (which without it say only the state and version) and, when ``metrics_open``,
    ``/metrics``."""
    api = _Api(node, token, app)
    r = app.router

    async def stop_checks(app: web.Application) -> None:
        await api.checks.close()

    app.on_cleanup.append(stop_checks)
    from gossipreg.io.api.errors import operator_errors

    app.middlewares.append(operator_errors)
    app.middlewares.append(api.exposition.middleware)

    def g(h: Handler) -> Handler:
        return _guard(token, h)

    r.add_get("/v1/agents", g(api.list_agents))
    r.add_post("/v1/agents", g(api.register))
    r.add_post(BATCH_PATH, g(api.register_batch))
    r.add_get("/v1/agents/{agent_id}", g(api.get_agent))
    r.add_get("/v1/agents/{agent_id}/card", g(card_handler(node)))
    r.add_delete("/v1/agents/{agent_id}", g(api.deregister))
    r.add_put("/v1/agents/{agent_id}/status", g(api.set_status))
    r.add_post("/v1/agents/{agent_id}/heartbeat", g(api.heartbeat))
    r.add_get("/v1/members", g(api.list_members))
    r.add_get("/v1/health", _guard(None, api.health))

    async def events(request: web.Request) -> web.StreamResponse:
        # A single-use ticket (bought with the token) stands in for the token on one stream.
        ticket = request.query.get("ticket")  # checked with the others by the handler
        if ticket is not None:
            if api.tickets.redeem(ticket):
                return await api.events(request)
            return _error(401, "unknown, used or expired ticket")
        if not token_ok(token, request):
            return _error(401, "missing or wrong bearer token")
        return await api.events(request)

    r.add_get("/v1/health/ready", _guard(None, api.ready))
    r.add_get("/v1/events", _guard(None, events))
    r.add_post("/v1/events/ticket", g(api.ticket))
    r.add_get("/metrics", _guard(None, api.prometheus) if metrics_open else g(api.prometheus))
    _mount_ard(app, node, token)  # /.well-known/ard.json, /ard/v1/...
    _mount_route(app, node, token)  # /v1/select, /v1/send, /v1/agents/{id}/load
    r.add_get("/v1/openapi.json", _guard(None, _openapi))
    setup_ui(app)  # the page: static files, served without the token
