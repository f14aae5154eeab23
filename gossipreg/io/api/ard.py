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
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.ard import (
    compile_filter,
    decode_page_token,
    encode_page_token,
    entry,
    facets,
    is_identifier,
    manifest,
    parse_urn,
    urn_of,
)

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["BASE", "setup_ard"]

BASE = "/ard/v1"
_BODY_LIMIT = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ard_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errorCode": code, "message": message}, status=status)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _page_size(value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str):
        value = int(value) if value.isdigit() else -1
    if type(value) is not int or not 1 <= value <= 100:
        raise InvalidArgumentError("pageSize must be an integer in 1..100")
    return value


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _BODY_LIMIT:
        raise InvalidArgumentError(f"request body over {_BODY_LIMIT} bytes")
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgumentError("body must be valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgumentError("body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidArgumentError(f"unknown fields: {sorted(unknown)}")
    return body


def _query(body: dict[str, Any], text_required: bool) -> tuple[str, dict[str, Any] | None]:
    q = body.get("query")
    if q is None and not text_required:
        return "", None
    if not isinstance(q, dict) or set(q) - {"text", "filter"}:
        raise InvalidArgumentError("query must be an object with text and filter")
    text = q.get("text")
    if text is None and not text_required:
        text = ""
    if not isinstance(text, str) or (text_required and not text.strip()):
        raise InvalidArgumentError("query.text must be a non-empty string")
    flt = q.get("filter")
    if flt is not None and not isinstance(flt, dict):
        raise InvalidArgumentError("query.filter must be an object of field path -> values")
    return text, flt


class _Ard:
    def __init__(self, node: NodeRunner) -> None:
        self.node = node

    def _entry(self, request: web.Request, v: Any) -> dict[str, Any]:
        return entry(v, f"{_origin(request)}/v1/agents/")

    async def well_known(self, request: web.Request) -> web.Response:
        views = self.node.list_agents()
        doc = manifest([self._entry(request, v) for v in views], self.node.name,
                       f"{_origin(request)}{BASE}/")
        return web.json_response(doc)

    async def search(self, request: web.Request) -> web.Response:
        body = await _body(request, {"query", "federation", "pageSize", "pageToken"})
        text, flt = _query(body, text_required=True)
        if body.get("federation", "auto") not in ("auto", "referrals", "none"):
            raise InvalidArgumentError("federation must be auto, referrals or none")
        size = _page_size(body.get("pageSize"), 10)
        offset = decode_page_token(body.get("pageToken"))
        hits = await self.node.search_async(text, flt, limit=size + 1, offset=offset)
        source = f"{_origin(request)}{BASE}/"
        results = []
        for h in hits[:size]:
            e = self._entry(request, h.agent)
            e["score"] = max(0, min(100, round(100 * h.score)))
            e["source"] = source
            results.append(e)
        out: dict[str, Any] = {"results": results}
        if body.get("federation") == "referrals":
            out["referrals"] = []
        if len(hits) > size:
            out["pageToken"] = encode_page_token(offset + size)
        return web.json_response(out)

    async def list_agents(self, request: web.Request) -> web.Response:
        q = request.query
        unknown = set(q) - {"filter", "pageSize", "pageToken"}
        if unknown:
            raise InvalidArgumentError(f"unsupported parameters: {sorted(unknown)}")
        flt: object = None
        if "filter" in q:
            try:
                flt = json.loads(q["filter"])
            except ValueError:
                raise InvalidArgumentError(
                    "filter must be a JSON object of field path -> values") from None
        accept = compile_filter(flt)
        size = _page_size(q.get("pageSize"), 20)
        offset = decode_page_token(q.get("pageToken"))
        views = [v for v in self.node.list_agents() if accept(v)]
        out: dict[str, Any] = {
            "items": [self._entry(request, v) for v in views[offset:offset + size]]}
        if len(views) > offset + size:
            out["pageToken"] = encode_page_token(offset + size)
        return web.json_response(out)

    async def get_agent(self, request: web.Request) -> web.Response:
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
        body = await _body(request, {"query", "resultType"})
        text, flt = _query(body, text_required=False)
        rt = body.get("resultType")
        if not isinstance(rt, dict) or set(rt) != {"facets"}:
            raise InvalidArgumentError("resultType must be an object with facets")
        if text.strip():
            views = [h.agent for h in await self.node.search_async(text, flt, limit=None)]
        else:
            accept = compile_filter(flt)
            views = [v for v in self.node.list_agents() if accept(v)]
        return web.json_response({"resultType": "facets",
                                  "facets": facets(views, rt["facets"])})


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


def setup_ard(app: web.Application, node: NodeRunner, *, token: str | None = None) -> None:
    """Mount the ARD manifests and registry API of ``node`` on ``app``."""
    api = _Ard(node)
    r = app.router

    def g(h: Handler) -> Handler:
        return _guard(token, h)

    r.add_get("/.well-known/ard.json", g(api.well_known))
    r.add_get("/.well-known/ai-catalog.json", g(api.well_known))
    r.add_post(f"{BASE}/search", g(api.search))
    r.add_get(f"{BASE}/agents", g(api.list_agents))
    r.add_get(f"{BASE}/agents/{{identifier}}", g(api.get_agent))
    r.add_post(f"{BASE}/explore", g(api.explore))
