"""``GET /metrics``: a node's figures in the Prometheus text format (0.0.4), by
``prometheus_client``, which is imported at the first scrape
(:mod:`gossipreg.io.api.exposition`): a node nobody scrapes does not load it (~0.8 MB). What
must be counted from the start (the event tally, search latencies, select / send outcomes) is
counted here, in plain Python.

- One ``CollectorRegistry`` per node, so several nodes in one process never mix their series.
- A custom collector reads the core's counters, the node's stats and the event tally
  (:mod:`gossipreg.io.api.tally`) when scraped: nothing is added to the registration or receive
  path. Series keep the names of the hand-written exposition this replaces; no ``_created``
  series are written.
- Search latency is a histogram per surface (``capability``: ``GET /v1/agents`` with a
  capability, tag or node filter; ``ard_search``; ``ard_explore``; ``search`` and ``select``
  when those routes exist), timed around the handler by :meth:`NodeMetrics.middleware`.
- Selection and sending outcomes: ``gossipreg_select_total`` and ``gossipreg_send_total``
  (by ``outcome``: ``ok`` or the error code of the answer) appear once the node serves
  ``POST /v1/select`` / ``POST /v1/send``; the selection's own words (no match, failover...)
  belong here when those routes report them.
- The transport's frames by path (``datagram``, ``link``, ``http``), its drops by path and
  reason (hostile datagrams and link frames, full queues, stalls, caps), its silence hints and
  its open links, when the transport keeps them (``LinkTransport.stats()``).
"""

from __future__ import annotations

import importlib.util
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gossipreg.io.api.errors import CODES
from gossipreg.io.api.tally import OUTCOME_ROUTES, EventTally, Latency

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["CONTENT_TYPE", "SURFACES", "NodeMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Route -> surface of the latency histogram (POST routes; GET /v1/agents is told apart below).
SURFACES = {"/ard/v1/search": "ard_search", "/ard/v1/explore": "ard_explore",
            "/v1/search": "search", "/v1/select": "select"}
_FILTERS = ("capability", "tag", "node")
def _outcome(status: int) -> str:
    return "ok" if status < 400 else CODES.get(status, "error" if status >= 500 else "client")


class NodeMetrics:
    """The Prometheus registry of one node; :meth:`render` is the ``/metrics`` body."""

    def __init__(self, node: NodeRunner, app: web.Application) -> None:
        # Imported at the first scrape, but a missing package fails the start, as it did.
        if importlib.util.find_spec("prometheus_client") is None:
            raise ImportError("gossipreg's /metrics needs the prometheus_client package "
                              "(pip install prometheus_client)")
        self.node = node
        self.app = app
        self.tally = EventTally(node.name, self._owner_of)
        node.add_listener(self.tally.count)
        self.latency = Latency(("capability", "ard_search", "ard_explore"))
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (route kind, outcome)
        self._registry: Any = None  # prometheus_client's, made at the first scrape

    def _owner_of(self, agent_id: str) -> str | None:
        v = self.node.get(agent_id)
        return None if v is None else v.node_id

    def render(self) -> bytes:
        """The exposition of this node, read now."""
        from gossipreg.io.api.exposition import generate_latest, registry_of

        if self._registry is None:
            self._registry = registry_of(self)
        out: bytes = generate_latest(self._registry)
        return out

    def served(self, path: str) -> bool:
        """Whether the node's application has a route at ``path``."""
        return any(r.canonical == path for r in self.app.router.resources())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Time the searches and count select / send outcomes (other requests pass through)."""
        path = request.path
        surface = SURFACES.get(path) if request.method == "POST" else None
        if (path == "/v1/agents" and request.method == "GET" and "index" not in request.query
                and any(k in request.query for k in _FILTERS)):
            surface = "capability"
        kind = OUTCOME_ROUTES.get(path) if request.method == "POST" else None
        if surface is None and kind is None:
            return await handler(request)
        start = time.perf_counter()
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            if surface is not None and status < 400:
                self.latency.observe(surface, time.perf_counter() - start)
            if kind is not None:
                self.outcomes[(kind, _outcome(status))] += 1
