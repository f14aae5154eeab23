"""The node's page: ``GET /ui`` (``GET /`` redirects there), plain HTML, CSS and JavaScript.

Rules:
- The page is built only from the HTTP API every client uses (members, agents, health, the ARD
  search, the resumable event stream with a single-use ticket, the OpenAPI document to learn
  which optional routes exist); it has no route of its own beyond its files.
- The files ship as package data (``gossipreg/io/api/static``), are read once (at the first
  request for each: a node nobody browses holds none of their ~28 KB), and are served
  without the token: with ``--token`` the page asks for it once and sends it as
  ``Authorization: Bearer`` on every API call (never in a URL).
- Every page response carries ``Content-Security-Policy: default-src 'self'``: no inline
  script or style runs, nothing is loaded from elsewhere; the script puts records' text into
  the page with ``textContent`` only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["CSP", "FILES", "page_weight", "setup_ui", "static_bytes", "ui_paths"]

CSP = "default-src 'self'"
# URL path -> (file in gossipreg/io/api/static, content type)
FILES = {
    "/ui": ("index.html", "text/html"),
    "/ui/ui.css": ("ui.css", "text/css"),
    "/ui/ui.js": ("ui.js", "text/javascript"),
    "/ui/icon.svg": ("icon.svg", "image/svg+xml"),
}
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def static_bytes(name: str) -> bytes:
    """One of the page's files as shipped."""
    from importlib import resources  # (its readers: only for a node whose page is asked for)

    return resources.files("gossipreg.io.api").joinpath("static", name).read_bytes()


def page_weight() -> int:
    """Bytes of the page's files together (HTML, CSS, JavaScript and its icon)."""
    return sum(len(static_bytes(name)) for name, _ in FILES.values())


def setup_ui(app: web.Application) -> None:
    """Serve the page's files on ``app`` (no token), and redirect ``/`` to ``/ui``."""
    bodies: dict[str, bytes] = {}
    for path, (name, ctype) in FILES.items():
        async def serve(request: web.Request, name: str = name,
                        ctype: str = ctype) -> web.Response:
            body = bodies.get(name)
            if body is None:
                body = bodies[name] = static_bytes(name)
            return web.Response(body=body, content_type=ctype, charset="utf-8",
                                headers=_HEADERS)

        app.router.add_get(path, serve)

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ui", headers={"Content-Security-Policy": CSP})

    app.router.add_get("/", root)


def ui_paths() -> dict[str, Any]:
    """The page's routes in the OpenAPI document (no token needed)."""
    def text(ctype: str, what: str) -> dict[str, Any]:
        return {"get": {"summary": what, "security": [{}], "responses": {"200": {
            "description": what, "content": {ctype: {"schema": {"type": "string"}}}}}}}

    out = {path: text(ctype, f"the node's page: {name}")
           for path, (name, ctype) in FILES.items()}
    out["/"] = {"get": {"summary": "redirects to the page (/ui)", "security": [{}],
                        "responses": {"302": {"description": "to /ui"}}}}
    return out
