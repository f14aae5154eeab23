"""Paths of the HTTP API's optional routes, apart from their handlers' modules: a node mounts
these routes at its start and imports a module only at the first request to one of its routes
(:func:`gossipreg.io.api.routes.serve_http`), so an idle node does not hold it."""

from __future__ import annotations

__all__ = ["ADMIN_ROUTES", "ARD_BASE", "ARD_ROUTES"]

ARD_BASE = "/ard/v1"
# (method, path, handler name in gossipreg.io.api.ard.ard_handlers)
ARD_ROUTES = (
    ("GET", "/.well-known/ard.json", "well_known"),
    ("GET", "/.well-known/ai-catalog.json", "well_known"),
    ("POST", f"{ARD_BASE}/search", "search"),
    ("GET", f"{ARD_BASE}/agents", "list_agents"),
    ("GET", f"{ARD_BASE}/agents/{{identifier}}", "get_agent"),
    ("POST", f"{ARD_BASE}/explore", "explore"),
)
# (path, handler name in gossipreg.io.api.admin.admin_handlers); every one a POST
ADMIN_ROUTES = (
    ("/v1/admin/reload-keys", "reload_keys"),
    ("/v1/admin/forget-node", "forget_node"),
    ("/v1/admin/rotate-identity", "rotate_identity"),
)
