"""ARD on every node: the well-known manifests and the registry API, answered from the replica.

Routes (``BASE`` = ``/ard/v1``):
``GET /.well-known/ard.json`` and ``GET /.well-known/ai-catalog.json`` (its predecessor): every
agent this node sees, then an ``application/ai-registry+json`` entry pointing at ``BASE``;
``POST BASE/search`` (``{query: {text, filter}, federation, pageSize, pageToken}``; results
ranked, each with an integer ``score`` 0–100 and ``source``), ``GET BASE/agents`` (``filter`` as
a JSON object in the query string, ``pageSize``, ``pageToken``; ``items``), ``GET
BASE/agents/{identifier}`` (the exact entry; a malformed identifier is a 400), ``POST
BASE/explore`` (facets over the matched set). Ranking: hybrid when the node has an embedder
(:mod:`gossipreg.core.search.hybrid`; ``score`` is ``round(100 × score)``), else lexical.
Errors use ARD's envelope ``{"errorCode", "message"}``: INVALID_ARGUMENT (400), UNAUTHENTICATED
(401), NOT_FOUND (404). Federation: this registry has no upstream, so every mode
answers from the local index (and ``referrals`` is empty).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.io.api.ard_models import ArdAgentsParams, ArdExploreIn, ArdSearchIn
from gossipreg.io.api.models import STATUS_CHOICES, NoParams, check_status
from gossipreg.io.api.params import parse_body, query_of
from gossipreg.io.api.tables import ARD_BASE as BASE
from gossipreg.io.api.tables import ARD_ROUTES

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["BASE", "ard_handlers", "setup_ard"]
_BODY_LIMIT = 64 * 1024
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ard_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errorCode": code, "message": message}, status=status)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _body(request: web.Request, model: type[M]) -> M:
    if request.content_length is not None and request.content_length > _BODY_LIMIT:
        raise InvalidArgumentError(f"request body over {_BODY_LIMIT} bytes")
    return parse_body(await request.read(), model)


def _filter_with_any(flt: dict[str, Any] | None) -> dict[str, Any] | None:
    """A status filter checked like ``GET /v1/agents?status=`` (one message for a bad one);
    ``any`` stands for every status."""
    if not flt:
        return flt
    out = dict(flt)
    for key in ("status", "metadata.status"):
        raw = out.get(key)
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            continue  # the filter's own check names the shape
        for v in values:
            check_status(v.lower(), any_ok=True)
        if any(v.lower() == "any" for v in values):
            out[key] = list(STATUS_CHOICES)
    return out


class _Ard:
    def __init__(self, node: NodeRunner) -> None:
        self.node = node

    # The ARD functions are imported by the handlers, at the first ARD request (~0.4 MB a
    # node nobody asks does not hold).
    def _entry(self, request: web.Request, v: Any) -> dict[str, Any]:
        from gossipreg.core.search.ard import entry

        return entry(v, f"{_origin(request)}/v1/agents/")

    async def well_known(self, request: web.Request) -> web.Response:
        from gossipreg.core.search.ard import manifest

        query_of(request, NoParams)
        views = self.node.list_agents()
        doc = manifest([self._entry(request, v) for v in views], self.node.name,
                       f"{_origin(request)}{BASE}/")
        return web.json_response(doc)

    async def search(self, request: web.Request) -> web.Response:
        from gossipreg.core.search.ard import decode_page_token, encode_page_token

        query_of(request, NoParams)
        body = await _body(request, ArdSearchIn)
        text, flt = body.query.text, _filter_with_any(body.query.filter)
        size = body.pageSize
        offset = decode_page_token(body.pageToken)
        hits = await self.node.search_async(text, flt, limit=size + 1, offset=offset)
        source = f"{_origin(request)}{BASE}/"
        results = []
        for h in hits[:size]:
            e = self._entry(request, h.agent)
            e["score"] = max(0, min(100, round(100 * h.score)))
            e["source"] = source
            results.append(e)
        out: dict[str, Any] = {"results": results}
        if body.federation == "referrals":
            out["referrals"] = []
        if len(hits) > size:
            out["pageToken"] = encode_page_token(offset + size)
        return web.json_response(out)

    async def list_agents(self, request: web.Request) -> web.Response:
        from gossipreg.core.search.ard import compile_filter, decode_page_token, encode_page_token

        p = query_of(request, ArdAgentsParams)
        flt: object = None
        if p.filter is not None:
            try:
                flt = json.loads(p.filter)
            except ValueError:
                raise InvalidArgumentError(
                    "filter must be a JSON object of field path -> values") from None
        if isinstance(flt, dict):
            flt = _filter_with_any(flt)
        accept = compile_filter(flt)
        size = p.pageSize
        offset = decode_page_token(p.pageToken)
        views = [v for v in self.node.list_agents() if accept(v)]
        out: dict[str, Any] = {
            "items": [self._entry(request, v) for v in views[offset:offset + size]]}
        if len(views) > offset + size:
            out["pageToken"] = encode_page_token(offset + size)
        return web.json_response(out)

    async def get_agent(self, request: web.Request) -> web.Response:
        from gossipreg.core.search.ard import is_identifier, parse_urn, urn_of

        query_of(request, NoParams)
        ident = request.match_info["identifier"]
        if not is_identifier(ident):
            raise InvalidArgumentError(
                f"{ident!r} is not an ARD identifier (urn:air:<publisher>:<namespace>:<name>)")
        agent_id = parse_urn(ident)
        v = self.node.get(agent_id) if agent_id is not None else None
        if v is None or urn_of(v.record) != ident:
            return ard_error(404, "NOT_FOUND", f"no agent {ident!r} in this registry")
        return web.json_response(self._entry(request, v))

    async def explore(self, request: web.Request) -> web.Response:
        from gossipreg.core.search.ard import compile_filter, facets

        query_of(request, NoParams)
        body = await _body(request, ArdExploreIn)
        scope = body.query
        text = (scope.text if scope is not None else None) or ""
        flt = _filter_with_any(scope.filter if scope is not None else None)
        if text.strip():
            views = [h.agent for h in await self.node.search_async(text, flt, limit=None)]
        else:
            accept = compile_filter(flt)
            views = [v for v in self.node.list_agents() if accept(v)]
        return web.json_response({"resultType": "facets",
                                  "facets": facets(views, body.resultType.facets)})


def _guard(token: str | None, handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if token is not None:
            got = request.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                return ard_error(401, "UNAUTHENTICATED", "missing or wrong bearer token")
        try:
            return await handler(request)
        except (InvalidArgumentError, ValueError) as e:
            return ard_error(400, "INVALID_ARGUMENT", str(e))
    return guarded


def ard_handlers(node: NodeRunner, token: str | None = None) -> dict[str, Handler]:
    """The ARD routes' handlers by name (the names of ``routes.ARD_ROUTES``), each guarded."""
    api = _Ard(node)
    return {name: _guard(token, getattr(api, name))
            for name in ("well_known", "search", "list_agents", "get_agent", "explore")}


def setup_ard(app: web.Application, node: NodeRunner, *, token: str | None = None) -> None:
    """Mount the ARD manifests and registry API of ``node`` on ``app`` (a node's HTTP API
    mounts them lazily instead: :func:`gossipreg.io.api.routes.serve_http`)."""
    handlers = ard_handlers(node, token)
    for method, path, name in ARD_ROUTES:
        app.router.add_route(method, path, handlers[name])
