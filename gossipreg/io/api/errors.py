"""One JSON error envelope on every API route, as operators and generated clients expect.

An aiohttp middleware (the handlers stay as they are):
- every error answer is ``{"error": message, "code": name, "status": n}``, aiohttp's own
  404 / 405 / 413 included (an unknown path too) and any unexpected exception (a 500,
  logged); JSON errors of another shape (ARD's ``{errorCode, message}``) pass unchanged; ``/``
  is left to whoever serves it (a page);
- the codes are the error model's (docs/design/shapes.md §4): ``invalid_argument``,
  ``unauthorized``, ``not_found``, ``already_exists``, ``refused``, ``unavailable``, ...; a
  handler may name a more precise one than its status gives;
- a body larger than ``API_BODY_LIMIT`` (``BATCH_BODY_LIMIT`` for a batch of agents) is
  refused with 413 whether it is announced by Content-Length or chunked; a body that is not
  ``application/json`` with 415;
- 401 carries ``WWW-Authenticate: Bearer``, and the scheme is matched case-insensitively;
- the gossip endpoint is left alone (binary frames, its own size limit).
"""

from __future__ import annotations

import json
import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.io.api.models import BATCH_BODY_LIMIT, BATCH_PATH
from gossipreg.io.net.transport import GOSSIP_PATH

__all__ = ["API_BODY_LIMIT", "CODES", "envelope", "operator_errors"]

log = logging.getLogger("gossipreg.io.http")

API_BODY_LIMIT = 256 * 1024
CODES = {400: "invalid_argument", 401: "unauthorized", 403: "permission_denied",
         404: "not_found", 405: "method_not_allowed", 409: "refused",
         413: "payload_too_large", 415: "unsupported_media_type", 500: "internal",
         503: "unavailable"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def envelope(status: int, message: str, headers: dict[str, str] | None = None,
             code: str | None = None) -> web.Response:
    """The error answer every API route gives (``code``: by default the status's)."""
    code = code or CODES.get(status, "error" if status >= 500 else "client_error")
    return web.json_response({"error": message, "code": code, "status": status},
                             status=status, headers=headers)


def _covered(path: str) -> bool:
    return path not in (GOSSIP_PATH, "/")


def _normalized(request: web.Request) -> web.Request:
    """``bearer``/``BEARER`` read as ``Bearer`` (RFC 7235: the scheme is case-insensitive)."""
    auth = request.headers.get(hdrs.AUTHORIZATION)
    if not auth:
        return request
    scheme, sep, cred = auth.partition(" ")
    if scheme.lower() != "bearer" or scheme == "Bearer":
        return request
    headers = request.headers.copy()
    headers[hdrs.AUTHORIZATION] = f"Bearer{sep}{cred.strip()}"
    return request.clone(headers=headers)


async def _body_problem(request: web.Request) -> web.Response | None:
    limit = BATCH_BODY_LIMIT if request.path == BATCH_PATH else API_BODY_LIMIT
    length = request.content_length
    if length is not None and length > limit:
        return envelope(413, f"request body too large (limit {limit} bytes)")
    if not request.body_exists:
        return None
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        return envelope(415, f"the body must be application/json, not {ctype or 'untyped'}")
    try:
        body = await request.read()  # cached: the handler's request.json() reads it again
    except web.HTTPRequestEntityTooLarge:
        body = b"x" * (limit + 1)
    if len(body) > limit:
        return envelope(413, f"request body too large (limit {limit} bytes)")
    return None


def _rewrap(resp: web.StreamResponse) -> web.StreamResponse:
    """An error answer in the envelope (handlers' ``{"error": text}`` get code and status)."""
    if resp.status < 400 or not isinstance(resp, web.Response):
        return resp
    if resp.content_type == "application/json" and resp.body is not None:
        try:
            data = json.loads(bytes(resp.body))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            data = None
        if isinstance(data, dict) and not isinstance(data.get("error"), str):
            return resp  # another JSON shape (a readiness report, ARD's envelope)
        if isinstance(data, dict) and "code" in data:
            return resp
        message = data["error"] if isinstance(data, dict) else resp.reason
    else:
        message = resp.text if resp.text and len(resp.text) < 200 else resp.reason
    out = envelope(resp.status, str(message).strip() or str(resp.reason))
    for k in (hdrs.WWW_AUTHENTICATE, hdrs.ALLOW, hdrs.RETRY_AFTER):
        if k in resp.headers:
            out.headers[k] = resp.headers[k]
    return out


@web.middleware
async def operator_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _covered(request.path):
        return await handler(request)
    request = _normalized(request)
    if request.method in _BODY_METHODS:
        problem = await _body_problem(request)
        if problem is not None:
            return problem
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        message = {404: f"no such route: {request.path}",
                   405: f"{request.method} is not allowed on {request.path}",
                   413: f"request body too large (limit {API_BODY_LIMIT} bytes)"}.get(
                       e.status, e.text if e.text and len(e.text) < 200 else e.reason)
        resp = envelope(e.status, message,
                        headers={k: v for k, v in e.headers.items() if k == hdrs.ALLOW})
    except InvalidArgumentError as e:  # a route without a guard of its own
        resp = envelope(400, str(e))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        resp = envelope(500, "internal error (logged on the node)")
    resp = _rewrap(resp)
    if resp.status == 401:
        resp.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="gossipreg"'
    return resp
