"""Operator routes: ``POST /v1/admin/reload-keys`` reloads the keyring from the key file;
``POST /v1/admin/forget-node`` (``{"name": NAME}``) releases the identity key this node pinned
for a name (this node only: never gossiped, so the cluster key alone cannot release a name);
``POST /v1/admin/rotate-identity`` replaces this node's identity key with a new one that the
current key endorses (peers that pinned the old key take the new one).

Admin routes always need the node's bearer token; a node started without one refuses them
(403), so an open API never lets anyone swap keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from aiohttp import web
from pydantic import Field

from gossipreg.core.errors import InvalidArgumentError, NodeStateError
from gossipreg.io.api.guard import Handler
from gossipreg.io.api.guard import error as _error
from gossipreg.io.api.guard import guard as _guard
from gossipreg.io.api.models import NoParams, Says, _Body
from gossipreg.io.api.params import body_of, query_of
from gossipreg.io.api.tables import ADMIN_ROUTES

if TYPE_CHECKING:
    from gossipreg.io.credentials.keys import KeyFileReloader
    from gossipreg.io.runner import NodeRunner

__all__ = ["ForgetNodeIn", "admin_handlers", "setup_admin"]


class ForgetNodeIn(_Body):
    """``POST /v1/admin/forget-node``: the name whose pinned identity key is released."""

    name: Annotated[str, Field(min_length=1), Says("name must be a node name")]


def setup_admin(app: web.Application, node: NodeRunner, *, token: str | None,
                reloader: KeyFileReloader | None) -> None:
    """Mount the admin routes on ``app`` (before the node starts; ``gossipreg node`` mounts
    them with :func:`gossipreg.io.api.routes.lazy_handlers`, which imports this module at the
    first admin request)."""
    handlers = admin_handlers(node, token=token, reloader=reloader)
    for path, name in ADMIN_ROUTES:
        app.router.add_post(path, handlers[name])


def admin_handlers(node: NodeRunner, *, token: str | None,
                   reloader: KeyFileReloader | None) -> dict[str, Handler]:
    """The admin routes' handlers by name (``tables.ADMIN_ROUTES``), guarded by ``token``;
    without one each refuses (403)."""

    async def reload_keys(request: web.Request) -> web.Response:
        query_of(request, NoParams)
        if reloader is None:
            return _error(409, "this node has no key file (--key-file) to reload")
        try:
            return web.json_response(reloader.reload())
        except OSError as e:
            return _error(409, f"cannot read the key file: {e.strerror or e}")

    async def forget_node(request: web.Request) -> web.Response:
        query_of(request, NoParams)
        name = (await body_of(request, ForgetNodeIn)).name
        if name == node.name:
            raise InvalidArgumentError("a node does not pin its own name")
        return web.json_response({"name": name, "forgotten": node.forget_node(name)})

    async def rotate_identity(request: web.Request) -> web.Response:
        query_of(request, NoParams)
        try:
            key = node.rotate_identity()
        except NodeStateError as e:
            return _error(409, str(e))
        return web.json_response({"public_key": key.hex()})

    async def refused(request: web.Request) -> web.Response:
        return _error(403, "admin routes need the node to have a token (--token)")

    handlers = {"reload_keys": reload_keys, "forget_node": forget_node,
                "rotate_identity": rotate_identity}
    return {name: _guard(token, h) if token is not None else refused
            for name, h in handlers.items()}
