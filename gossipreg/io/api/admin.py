"""Operator routes: ``POST /v1/admin/reload-keys`` reloads the keyring from the key file.

Admin routes always need the node's bearer token; a node started without one refuses them
(403), so an open API never lets anyone swap keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gossipreg.io.api.models import NoParams
from gossipreg.io.api.params import query_of
from gossipreg.io.api.routes import _error, _guard

if TYPE_CHECKING:
    from gossipreg.io.keys import KeyFileReloader
    from gossipreg.io.runner import NodeRunner

__all__ = ["setup_admin"]


def setup_admin(app: web.Application, node: NodeRunner, *, token: str | None,
                reloader: KeyFileReloader | None) -> None:
    """Mount the admin routes on ``app`` (before the node starts)."""

    async def reload_keys(request: web.Request) -> web.Response:
        query_of(request, NoParams)
        if reloader is None:
            return _error(409, "this node has no key file (--key-file) to reload")
        try:
            return web.json_response(reloader.reload())
        except OSError as e:
            return _error(409, f"cannot read the key file: {e.strerror or e}")

    async def refused(request: web.Request) -> web.Response:
        return _error(403, "admin routes need the node to have a token (--token)")

    handler = _guard(token, reload_keys) if token is not None else refused
    app.router.add_post("/v1/admin/reload-keys", handler)
