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

import bisect
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gossipreg.io.api.errors import CODES
from gossipreg.io.api.tally import EventTally

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["CONTENT_TYPE", "OUTCOME_ROUTES", "SURFACES", "Latency", "NodeMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Route -> surface of the latency histogram (POST routes; GET /v1/agents is told apart below).
SURFACES = {"/ard/v1/search": "ard_search", "/ard/v1/explore": "ard_explore",
            "/v1/search": "search", "/v1/select": "select"}
_FILTERS = ("capability", "tag", "node")
# Routes whose answers are counted by outcome, once the node serves them.
OUTCOME_ROUTES = {"/v1/select": "select", "/v1/send": "send"}
# 0.1 ms .. 2.5 s: a local index answers in microseconds, a hybrid search in milliseconds.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            1.0, 2.5)


class Latency:
    """The search latency histogram (``gossipreg_search_duration_seconds``): per surface, the
    count in each bucket of :data:`BUCKETS` (not cumulative; the last one is +Inf), the sum
    and the count."""

    def __init__(self, surfaces: tuple[str, ...]) -> None:
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        for surface in surfaces:  # present from the start, at 0
            self.labels(surface)

    def labels(self, surface: str) -> list[int]:
        """The bucket counts of ``surface`` (made at 0 on first use)."""
        counts = self.counts.get(surface)
        if counts is None:
            counts = self.counts[surface] = [0] * (len(BUCKETS) + 1)
            self.sums[surface] = 0.0
        return counts

    def observe(self, surface: str, seconds: float) -> None:
        self.labels(surface)[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[surface] += seconds


def _outcome(status: int) -> str:
    return "ok" if status < 400 else CODES.get(status, "error" if status >= 500 else "client")


class NodeMetrics:
    """The Prometheus registry of one node; :meth:`render` is the ``/metrics`` body."""

    def __init__(self, node: NodeRunner, app: web.Application) -> None:
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
