"""The HTTP API's guard: the bearer token, and the node's errors as their answers (the
handlers of :mod:`gossipreg.io.api.routes` and the admin routes share it)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gossipreg.core.errors import AgentExistsError, InvalidArgumentError, NodeStateError

__all__ = ["Handler", "error", "guard", "token_ok"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, code: str | None = None) -> web.Response:
    """An error answer: ``{"error": message}``, with ``code`` and ``status`` when a code is
    given (:mod:`gossipreg.io.api.errors` completes the envelope)."""
    body: dict[str, Any] = {"error": message}
    if code is not None:
        body.update(code=code, status=status)
    return web.json_response(body, status=status)


def token_ok(token: str | None, request: web.Request) -> bool:
    """Whether ``request`` carries the bearer ``token`` (any request when there is none)."""
    if token is None:
        return True
    got = request.headers.get("Authorization", "")
    return hmac.compare_digest(got.encode(), f"Bearer {token}".encode())


def guard(token: str | None, handler: Handler) -> Handler:
    """``handler`` behind ``token``, the node's refusals as 4xx answers."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not token_ok(token, request):
            return error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except AgentExistsError as e:
            return error(409, str(e), "already_exists")
        except (InvalidArgumentError, ValueError) as e:
            return error(400, str(e))
        except NodeStateError as e:
            return error(409, str(e), "refused")
    return guarded
