"""The OpenAPI 3.0 description of a node's HTTP API, served at ``GET /v1/openapi.json``.

Derived, not written: every body, parameter set and answer is a model of
:mod:`gossipreg.io.api.models` (the same the routes validate with), and the table below says
which route takes and answers which. pydantic's JSON Schema is turned into OpenAPI 3.0's
dialect (``nullable``, boolean ``exclusiveMinimum``, schemas under ``components``).
``tests/io/test_http_api.py`` validates the document, checks it against the routes and runs
schemathesis against a live node.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from aiohttp import web
from pydantic import BaseModel

from gossipreg.io.api import answers as a
from gossipreg.io.api import ard_models as am
from gossipreg.io.api import models as m
from gossipreg.io.api import route_models as rm
from gossipreg.io.api.admin import ForgetNodeIn
from gossipreg.io.api.batch import AgentsBatchIn
from gossipreg.io.api.params import is_list_field
from gossipreg.io.api.ui import ui_paths

__all__ = ["openapi_document", "serve_openapi"]

_REF = "#/components/schemas/{model}"
_ERRORS = {400: "bad input (an unknown field or parameter too)",
           401: "missing or wrong bearer token", 403: "not allowed",
           404: "unknown agent or route", 409: "refused (already registered, node left)",
           413: "body too large", 415: "body is not application/json",
           503: "the node is not ready"}
_AGENT_ID = {"name": "agent_id", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
_IDENT = {"name": "identifier", "in": "path", "required": True,
          "schema": {"type": "string", "minLength": 1}}
_ANY = {"type": "object"}


class Op(NamedTuple):
    """One operation: what it takes (``params``, ``body``) and answers (``ok``: status ->
    (a model, ``[model]`` for a list of them, a plain schema, or None for text; and a
    description)); ``errors`` its error statuses; ``ard`` whether they use ARD's envelope;
    ``public`` whether it needs no token."""

    summary: str
    ok: dict[int, tuple[Any, str]]
    errors: tuple[int, ...] = ()
    params: type[BaseModel] = m.NoParams
    body: type[BaseModel] | None = None
    ard: bool = False
    public: bool = False


_AGENT = (a.AgentOut, "the agent")
_OK = (a.OkOut, "done (true) or not")
# (path, method) -> operation; a path's {agent_id} or {identifier} is declared once per path.
ROUTES: dict[tuple[str, str], Op] = {
    ("/v1/agents", "get"): Op("agents this node sees", {200: ([a.AgentOut], "agents")},
                              params=m.AgentsParams),
    ("/v1/agents", "post"): Op("register an agent owned by this node",
                               {201: (a.AgentOut, "registered")}, (409, 413, 415),
                               body=m.AgentIn),
    ("/v1/agents:batch", "post"): Op(
        "register up to 1,000 agents owned by this node (1 MiB of JSON), each on its own",
        {200: (a.AgentsBatchOut, "each item's answer, in order")}, (413, 415),
        body=AgentsBatchIn),
    ("/v1/agents/{agent_id}", "get"): Op("one agent", {200: _AGENT}, (404,)),
    ("/v1/agents/{agent_id}", "delete"): Op(
        "deregister (forwarded to the owner)",
        {200: (a.DeregisteredOut, "done or not")}, (404,)),
    ("/v1/agents/{agent_id}/status", "put"): Op(
        "write a status", {200: (a.OkOut, "written")}, (404, 409, 413, 415),
        body=m.StatusIn),
    ("/v1/agents/{agent_id}/heartbeat", "post"): Op(
        "record a heartbeat (forwarded to the owner)", {200: _OK}, (404, 409, 413, 415)),
    ("/v1/agents/{agent_id}/card", "get"): Op(
        "the agent's A2A card, exactly as registered", {200: (_ANY, "the card")}, (404,)),
    ("/v1/members", "get"): Op("the member table", {200: ([a.MemberOut], "members")},
                               params=m.MembersParams),
    ("/v1/health", "get"): Op(
        "health in one word (without the token: state and version only)",
        {200: (a.HealthOut, "health")}, public=True),
    ("/v1/health/ready", "get"): Op(
        "readiness: 200 once joined (without the token: state and version only)",
        {200: (a.HealthOut, "ready"), 503: (a.HealthOut, "not ready")},
        public=True),
    ("/v1/events", "get"): Op("server-sent events", {200: (None, "an event stream")},
                              params=m.EventsParams),
    ("/v1/events/ticket", "post"): Op(
        "buy a single-use ticket that opens one event stream within a minute",
        {201: (a.TicketOut, "the ticket")}),
    ("/v1/admin/reload-keys", "post"): Op(
        "reload the keyring from the key file (gossipreg node only)",
        {200: (_ANY, "fingerprints of the installed keys")}, (403, 404, 409)),
    ("/v1/admin/forget-node", "post"): Op(
        "release the identity key this node pinned for a name (this node only)",
        {200: (a.ForgottenOut, "whether a pin was released")}, (403, 404, 413, 415),
        body=ForgetNodeIn),
    ("/v1/admin/rotate-identity", "post"): Op(
        "replace this node's identity key with a new one its current key endorses",
        {200: (a.RotatedOut, "the new public key")}, (403, 404, 409)),
    ("/metrics", "get"): Op("Prometheus text (open without the token with --metrics-open)",
                            {200: (None, "text format 0.0.4")}),
    ("/.well-known/ard.json", "get"): Op(
        "the ARD manifest of the agents this node sees", {200: (_ANY, "manifest")},
        ard=True),
    ("/.well-known/ai-catalog.json", "get"): Op(
        "the manifest, under its older name", {200: (_ANY, "manifest")}, ard=True),
    ("/ard/v1/search", "post"): Op("ranked search", {200: (_ANY, "results")},
                                   (413, 415), body=am.ArdSearchIn, ard=True),
    ("/ard/v1/agents", "get"): Op("every entry, paged", {200: (_ANY, "items")},
                                  params=am.ArdAgentsParams, ard=True),
    ("/ard/v1/agents/{identifier}", "get"): Op("one entry", {200: (_ANY, "the entry")},
                                               (404,), ard=True),
    ("/ard/v1/explore", "post"): Op("facets over the matched set",
                                    {200: (_ANY, "facets")}, (413, 415),
                                    body=am.ArdExploreIn, ard=True),
    ("/v1/select", "post"): Op("rank agents for a task (nothing is sent)",
                               {200: (_ANY, "the candidates")}, (404, 413, 415),
                               body=rm.SelectBody),
    ("/v1/send", "post"): Op(
        "select and deliver a message over A2A, with failover (server-sent events with "
        "stream)", {200: (_ANY, "the answer"), 502: (a.ErrorOut, "no agent answered")},
        (403, 404, 413, 415, 503), body=rm.SendBody),
    ("/v1/agents/{agent_id}/load", "put"): Op(
        "publish the load of an agent this node hosts", {200: _OK}, (404, 409, 413, 415),
        body=rm.LoadBody),
}


def to_openapi30(schema: Any) -> Any:
    """pydantic's JSON Schema (2020-12) in OpenAPI 3.0's dialect."""
    if isinstance(schema, list):
        return [to_openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_openapi30(v) for k, v in schema.items() if k not in ("$defs", "title")}
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [v for v in variants if v != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            out["allOf"] = rest
        elif len(rest) == 1:
            out.update(rest[0])
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain] = out[bound]
            out[bound] = True
    return out


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A ``$ref`` to ``model``, whose schema (and those it refers to) join ``components``."""
    full = model.model_json_schema(ref_template=_REF)
    for name, sub in full.get("$defs", {}).items():
        components[name] = to_openapi30(sub)
    components[model.__name__] = to_openapi30(full)
    return {"$ref": _REF.format(model=model.__name__)}


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    props = to_openapi30(model.model_json_schema(ref_template=_REF)).get("properties", {})
    out = []
    for name, field in model.model_fields.items():
        schema = {k: v for k, v in props[name].items()
                  if k not in ("nullable", "description") and not (k == "default" and v is None)}
        p: dict[str, Any] = {"name": name, "in": "query", "required": field.is_required(),
                             "schema": schema}
        if field.description:
            p["description"] = field.description
        if is_list_field(model, name):
            p.update(style="form", explode=True)
        out.append(p)
    return out


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(path: str, op: Op, components: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (shape, text) in op.ok.items():
        if isinstance(shape, list):
            responses[str(status)] = _json({"type": "array", "items": _schema(
                shape[0], components)}, text)
        elif isinstance(shape, type):
            responses[str(status)] = _json(_schema(shape, components), text)
        elif shape is not None:
            responses[str(status)] = _json(shape, text)
        else:
            kind = "text/event-stream" if path == "/v1/events" else "text/plain"
            responses[str(status)] = {"description": text, "content": {kind: {"schema": {
                "type": "string"}}}}
    if "201" in responses and path == "/v1/agents":
        responses["201"]["headers"] = {"Location": {"schema": {"type": "string"},
                                                    "description": "the agent's URL"}}
    err = _schema(a.ArdErrorOut if op.ard else a.ErrorOut, components)
    for code in sorted({400, *(() if op.public else (401,)), *op.errors}):
        responses[str(code)] = _json(err, _ERRORS[code])
    out: dict[str, Any] = {"summary": op.summary, "responses": responses}
    params = _parameters(op.params)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _schema(op.body, components)}}}
    if op.public:
        out["security"] = [{}]
    return out


def openapi_document(version: str) -> dict[str, Any]:
    """The document (a fresh dict each call)."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for (path, method), op in ROUTES.items():
        item = paths.setdefault(path, {})
        if "{agent_id}" in path:
            item["parameters"] = [_AGENT_ID]
        elif "{identifier}" in path:
            item["parameters"] = [_IDENT]
        item[method] = _operation(path, op, components)
    paths["/v1/openapi.json"] = {"get": {"summary": "this document", "security": [{}],
                                         "responses": {"200": _json(_ANY, "OpenAPI 3")}}}
    paths.update(ui_paths())
    return {
        "openapi": "3.0.3",
        "info": {"title": "gossipreg node API", "version": version,
                 "description": "Every node of the mesh answers from its own replica; writes "
                                "are forwarded to the agent's owner node."},
        "security": [{}, {"bearer": []}],
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(components.items()))},
    }


async def serve_openapi(request: web.Request) -> web.Response:
    from gossipreg.io.api.models import NoParams
    from gossipreg.io.api.params import query_of
    from gossipreg.version import __version__

    query_of(request, NoParams)
    return web.json_response(openapi_document(__version__))
