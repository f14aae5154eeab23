"""The OpenAPI 3.0 description of a node's HTTP API, served at ``GET /v1/openapi.json``.

Written by hand next to the routes it describes (``http_api``, ``admin_api``, ``http_errors``);
``tests/io/test_http_api.py`` validates it with openapi-spec-validator and runs schemathesis
against a live node, so a route and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["openapi_document", "serve_openapi"]

_ERR = {"$ref": "#/components/schemas/Error"}
_STATUSES = ["active", "degraded", "unhealthy", "offline"]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad input", 401: "missing or wrong bearer token", 403: "not allowed",
            404: "unknown agent or route", 409: "conflict (already registered, node left)",
            413: "body too large", 415: "body is not application/json",
            503: "the node is not ready"}
    return {str(c): _json(_ERR, text[c]) for c in codes}


def _op(summary: str, ok: dict[str, Any], *errors: int, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**ok, **_errors(401, *errors)}, **extra}


_AGENT_ID = {"name": "agent_id", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


# ?index=N&wait=30s on listings: block until something changed after position N.
_BLOCKING = [
    _query("index", {"type": "integer", "minimum": 0},
           "position (X-Gossipreg-Index of an earlier answer) to wait past"),
    _query("wait", {"type": "string"}, "how long to wait, e.g. 30s (with index)"),
]
_ARD_ERR = {"$ref": "#/components/schemas/ArdError"}


def _ard(summary: str, ok: dict[str, Any], *codes: int, **extra: Any) -> dict[str, Any]:
    text = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
            413: "body too large", 415: "body is not application/json"}
    errors = {str(c): _json(_ARD_ERR, text[c]) for c in (401, *codes)}
    return {"summary": summary, "responses": {**ok, **errors}, **extra}


def _ard_paths() -> dict[str, Any]:
    """ARD's discovery documents and registry API (see gossipreg/io/api/ard.py)."""
    obj = {"type": "object"}
    query_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": {
            "query": {"type": "object", "properties": {
                "text": {"type": "string"}, "filter": {"type": "object"}}},
            "pageSize": {"type": "integer", "minimum": 1},
            "pageToken": {"type": "string"}}}}}}
    ident = {"name": "identifier", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1}}
    return {
        "/.well-known/ard.json": {"get": _ard("the ARD manifest of the agents this node sees",
                                              {"200": _json(obj, "manifest")})},
        "/.well-known/ai-catalog.json": {"get": _ard("the manifest, under its older name",
                                                     {"200": _json(obj, "manifest")})},
        "/ard/v1/search": {"post": _ard("ranked search", {"200": _json(obj, "results")},
                                        400, 413, 415, requestBody=query_body)},
        "/ard/v1/agents": {"get": _ard("every entry, paged", {"200": _json(obj, "items")}, 400,
                                       parameters=[
                                           _query("pageSize", {"type": "integer", "minimum": 1},
                                                  "page size"),
                                           _query("pageToken", {"type": "string"},
                                                  "next page")])},
        "/ard/v1/agents/{identifier}": {"parameters": [ident], "get": _ard(
            "one entry", {"200": _json(obj, "the entry")}, 400, 404)},
        "/ard/v1/explore": {"post": _ard("facets over the matched set",
                                         {"200": _json(obj, "facets")}, 400, 413, 415,
                                         requestBody=query_body)},
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The document (a fresh dict each call)."""
    agent = {"$ref": "#/components/schemas/Agent"}
    ok = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    body = {"required": True, "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/AgentIn"}}}}
    status_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": _STATUSES},
            "cause": {"type": "string", "maxLength": 64}}}}}}
    health = {"$ref": "#/components/schemas/Health"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "gossipreg node API", "version": version,
                 "description": "Every node of the mesh answers from its own replica; writes "
                                "are forwarded to the agent's owner node."},
        "security": [{}, {"bearer": []}],
        "paths": {
            "/v1/agents": {
                "get": _op("agents this node sees",
                           {"200": _json({"type": "array", "items": agent}, "agents")}, 400,
                           parameters=[
                               _query("capability", {"type": "string"}, "terms to match"),
                               _query("status", {"type": "string", "enum": [*_STATUSES, "any"]},
                                      "status filter (default any)"),
                               _query("runtime", {"type": "string"}, "runtime id"),
                               _query("tag", {"type": "string"}, "tag (repeatable)"),
                               _query("node", {"type": "string"}, "owner node id"),
                               _query("limit", {"type": "integer", "minimum": 0}, "page size"),
                               _query("offset", {"type": "integer", "minimum": 0}, "skip"),
                               *_BLOCKING]),
                "post": _op("register an agent owned by this node",
                            {"201": {**_json(agent, "registered"), "headers": {"Location": {
                                "schema": {"type": "string"},
                                "description": "the agent's URL"}}}},
                            400, 409, 413, 415, requestBody=body),
            },
            "/v1/agents/{agent_id}": {
                "parameters": [_AGENT_ID],
                "get": _op("one agent", {"200": _json(agent, "the agent")}, 404),
                "delete": _op("deregister (forwarded to the owner)", {"200": _json(
                    {"type": "object", "properties": {"deregistered": {"type": "boolean"}},
                     "required": ["deregistered"]}, "done or not")}, 404),
            },
            "/v1/agents/{agent_id}/status": {
                "parameters": [_AGENT_ID],
                "put": _op("write a status", {"200": _json(ok, "written")}, 400, 404, 409,
                           413, 415, requestBody=status_body),
            },
            "/v1/agents/{agent_id}/heartbeat": {
                "parameters": [_AGENT_ID],
                "post": _op("record a heartbeat (forwarded to the owner)",
                            {"200": _json(ok, "recorded or lost")}, 404, 409, 413, 415),
            },
            "/v1/agents/{agent_id}/card": {
                "parameters": [_AGENT_ID],
                "get": _op("the agent's A2A card, exactly as registered", {"200": _json(
                    {"type": "object"}, "the card")}, 404),
            },
            "/v1/members": {"get": _op("the member table", {"200": _json(
                {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                "members")}, 400, parameters=_BLOCKING)},
            "/v1/health": {"get": _op("health in one word", {"200": _json(health, "health")})},
            "/v1/health/ready": {"get": _op("readiness: 200 once joined", {
                "200": _json(health, "ready"), "503": _json(health, "not ready")})},
            "/v1/events": {"get": _op("server-sent events", {"200": {
                "description": "an event stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}}, 400,
                parameters=[_query("types", {"type": "string"},
                                   "comma-separated event types"),
                            _query("ticket", {"type": "string"},
                                   "a single-use ticket instead of the token")])},
            "/v1/events/ticket": {"post": _op(
                "buy a single-use ticket that opens one event stream within a minute",
                {"201": _json({"type": "object", "required": ["ticket"], "properties": {
                    "ticket": {"type": "string"}, "expires_in": {"type": "number"}}},
                    "the ticket")}, 400)},
            **_ard_paths(),
            "/v1/admin/reload-keys": {"post": _op(
                "reload the keyring from the key file (gossipreg node only)",
                {"200": _json({"type": "object"}, "fingerprints of the installed keys")},
                403, 404, 409)},
            "/v1/openapi.json": {"get": {"summary": "this document", "security": [{}],
                                         "responses": {"200": _json({"type": "object"},
                                                                    "OpenAPI 3")}}},
            "/metrics": {"get": _op("Prometheus text", {"200": {
                "description": "text format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}}}})},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ArdError": {"type": "object", "required": ["errorCode", "message"],
                             "properties": {"errorCode": {"type": "string"},
                                            "message": {"type": "string"}}},
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "code": {"type": "string"},
                    "status": {"type": "integer"}}},
                "AgentIn": {"type": "object", "required": ["agent_id"],
                            "additionalProperties": False, "properties": {
                                "agent_id": {"type": "string"}, "name": {"type": "string"},
                                "runtime_id": {"type": "string"},
                                "capabilities": {"type": "array", "items": {"type": "string"}},
                                "description": {"type": "string"},
                                "tags": {"type": "array", "items": {"type": "string"}},
                                "card": {"type": "object"},
                                "check": {"$ref": "#/components/schemas/Check"}}},
                "Check": {"type": "object", "description": "http (url, interval, timeout) or "
                          "ttl (seconds between heartbeats)", "properties": {
                              "http": {"type": "string"}, "interval": {"type": "number"},
                              "timeout": {"type": "number"}, "ttl": {"type": "number"}}},
                "Agent": {"type": "object", "required": [
                    "agent_id", "name", "runtime_id", "node_id", "capabilities", "status"],
                    "properties": {
                        "agent_id": {"type": "string"}, "name": {"type": "string"},
                        "runtime_id": {"type": "string"}, "node_id": {"type": "string"},
                        "capabilities": {"type": "array", "items": {"type": "string"}},
                        "description": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "string", "enum": _STATUSES},
                        "last_heartbeat": {"type": "string"},
                        "last_heartbeat_unix": {"type": "number"},
                        "heartbeat_count": {"type": "integer"},
                        "registered_at": {"type": "string"},
                        "heartbeat": {"type": "object", "description": "how this agent must "
                                      "stay alive (in the 201 answer)"}}},
                "Member": {"type": "object", "required": ["node_id", "address", "state"],
                           "properties": {
                               "node_id": {"type": "string"}, "address": {"type": "string"},
                               "state": {"type": "string",
                                         "enum": ["alive", "suspect", "dead", "left"]},
                               "incarnation": {"type": "integer"},
                               "generation": {"type": "integer"}}},
                "Health": {"type": "object", "required": ["status", "ready"], "properties": {
                    "status": {"type": "string",
                               "enum": ["joining", "ok", "isolated", "leaving", "refused"]},
                    "ready": {"type": "boolean"}, "node_id": {"type": "string"},
                    "address": {"type": "string"}, "members_alive": {"type": "integer"},
                    "agents": {"type": "integer"}, "health_score": {"type": "integer"},
                    "reason": {"type": "string"},
                    "search": {"type": "object", "required": ["mode"], "properties": {
                        "mode": {"type": "string", "enum": ["hybrid", "lexical"]},
                        "reason": {"type": "string"}, "model": {"type": "string"},
                        "dims": {"type": "integer"}, "embeds": {"type": "string"},
                        "agents_with_vectors": {"type": "integer"},
                        "pending": {"type": "integer"}, "error": {"type": "string"}}}}},
            },
        },
    }


async def serve_openapi(request: web.Request) -> web.Response:
    from gossipreg.version import __version__

    return web.json_response(openapi_document(__version__))
