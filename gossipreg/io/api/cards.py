"""Cards out: the card fields of an agent's JSON, and the per-agent card route.

``GET /v1/agents/{id}/card`` answers the card's JSON text exactly as it was registered (any
node: the card travels with the record), so ``a2a-sdk``'s ``A2ACardResolver(client, base_url)
.get_agent_card(relative_card_path=f"/v1/agents/{id}/card")`` resolves it; 404 without a card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gossipreg.core.types import AgentRecord
from gossipreg.io.api.models import NoParams
from gossipreg.io.api.params import query_of

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["card_fields", "card_handler"]


def card_fields(r: AgentRecord) -> dict[str, Any]:
    """What ``GET /v1/agents/{id}`` adds from the card: the card, endpoints, skills, provider,
    version."""
    return {
        "card": r.card,
        "endpoints": [{"url": e.url, "protocolBinding": e.binding, "protocolVersion": e.version}
                      for e in r.endpoints],
        "skills": [{"id": s.id, "name": s.name, "description": s.description,
                    "tags": list(s.tags), "examples": list(s.examples)} for s in r.skills],
        "provider": None if r.provider is None else {"organization": r.provider.organization,
                                                     "url": r.provider.url},
        "version": r.version,
    }


def card_handler(node: NodeRunner) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def card(request: web.Request) -> web.Response:
        query_of(request, NoParams)
        aid = request.match_info["agent_id"]
        v = node.get(aid)
        if v is None:
            return web.json_response({"error": f"unknown agent {aid!r}"}, status=404)
        if v.record.card_json is None:
            return web.json_response({"error": f"agent {aid!r} has no card"}, status=404)
        return web.Response(text=v.record.card_json, content_type="application/json")
    return card
