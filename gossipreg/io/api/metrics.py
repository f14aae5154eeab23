"""``GET /metrics``: a node's figures in the Prometheus text format (0.0.4), by
``prometheus_client``.

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

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gossipreg.core.metrics import DROP_REASONS
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.core.wire.codec import PROTOCOL_VERSION
from gossipreg.io.api.errors import CODES
from gossipreg.io.api.tally import DEREGISTRATION_CAUSES, HEARTBEAT_OUTCOMES, EventTally
from gossipreg.version import __version__

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["CONTENT_TYPE", "SURFACES", "NodeMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Route -> surface of the latency histogram (POST routes; GET /v1/agents is told apart below).
SURFACES = {"/ard/v1/search": "ard_search", "/ard/v1/explore": "ard_explore",
            "/v1/search": "search", "/v1/select": "select"}
_FILTERS = ("capability", "tag", "node")
# Routes whose answers are counted by outcome, once the node serves them.
OUTCOME_ROUTES = {"/v1/select": "select", "/v1/send": "send"}
# 0.1 ms .. 2.5 s: a local index answers in microseconds, a hybrid search in milliseconds.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            1.0, 2.5)


def _outcome(status: int) -> str:
    return "ok" if status < 400 else CODES.get(status, "error" if status >= 500 else "client")


class NodeMetrics:
    """The Prometheus registry of one node; :meth:`render` is the ``/metrics`` body."""

    def __init__(self, node: NodeRunner, app: web.Application) -> None:
        self.node = node
        self.app = app
        self.tally = EventTally(node.name, self._owner_of)
        node.add_listener(self.tally.count)
        self.latency = Histogram(
            "gossipreg_search_duration_seconds",
            "Time to answer a search, by surface (the handler, on this node).",
            ["surface"], buckets=_BUCKETS, registry=None)
        for surface in ("capability", "ard_search", "ard_explore"):
            self.latency.labels(surface)  # present from the start, at 0
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (route kind, outcome)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def _owner_of(self, agent_id: str) -> str | None:
        v = self.node.get(agent_id)
        return None if v is None else v.node_id

    def render(self) -> bytes:
        """The exposition of this node, read now."""
        return generate_latest(self.registry)

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
                self.latency.labels(surface).observe(time.perf_counter() - start)
            if kind is not None:
                self.outcomes[(kind, _outcome(status))] += 1


def _counter(name: str, help_: str, labels: Iterable[str] = (),
             samples: Iterable[tuple[tuple[str, ...], float]] = ()) -> CounterMetricFamily:
    m = CounterMetricFamily(name, help_, labels=list(labels))
    for values, v in samples:
        m.add_metric(list(values), v)
    return m


def _gauge(name: str, help_: str, labels: Iterable[str] = (),
           samples: Iterable[tuple[tuple[str, ...], float]] = ()) -> GaugeMetricFamily:
    m = GaugeMetricFamily(name, help_, labels=list(labels))
    for values, v in samples:
        m.add_metric(list(values), v)
    return m


class _Collector(Collector):
    """Reads a node's figures at scrape time (see the module docstring)."""

    def __init__(self, nm: NodeMetrics) -> None:
        self.nm = nm

    def collect(self) -> Iterator[Metric]:
        yield from self._node()
        yield from _transport(self.nm.node.transport.stats())
        yield from self._events()
        for family in self.nm.latency.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family
        yield from self._outcomes()

    def _node(self) -> Iterator[Metric]:
        node = self.nm.node
        stats, m = node.read.stats(), node.read.metrics()
        yield _gauge("gossipreg_members", "Members by state.", ["state"],
                     [((s.name.lower(),), stats.member_counts[s]) for s in MemberState])
        counts = stats.status_counts
        yield _gauge("gossipreg_agents", "Visible agents by status.", ["status"],
                     [((s.value,), counts.get(s, 0)) for s in AgentStatus])
        yield _counter("gossipreg_packets_in_total", "Packets received.",
                       samples=[((), m.packets_in)])
        yield _counter("gossipreg_packets_out_total", "Packets sent.",
                       samples=[((), m.packets_out)])
        yield _counter("gossipreg_received_bytes_total", "Frame bytes received.",
                       samples=[((), m.bytes_in)])
        yield _counter("gossipreg_sent_bytes_total", "Frame bytes sent.",
                       samples=[((), m.bytes_out)])
        yield _counter("gossipreg_message_sent_bytes_total",
                       "Message bytes sent by traffic class.", ["class"],
                       [((k,), v) for k, v in sorted(m.bytes_out_by_category.items())])
        dropped = {**dict.fromkeys(DROP_REASONS, 0), **m.dropped}
        yield _counter("gossipreg_packets_dropped_total",
                       "Packets or messages dropped, by reason.", ["reason"],
                       [((k,), v) for k, v in sorted(dropped.items())])
        yield _gauge("gossipreg_broadcast_queue_depth", "Broadcasts waiting to be gossiped.",
                     samples=[((), stats.queue_depth)])
        yield _gauge("gossipreg_health_score", "Lifeguard local health score (0 is healthy).",
                     samples=[((), stats.health_score)])
        yield _counter("gossipreg_events_dropped_total",
                       "Events dropped by full buffers (the node's queue and its subscribers').",
                       samples=[((), stats.events_dropped + node.stream_drops)])
        yield _gauge("gossipreg_event_queue_depth",
                     "Events waiting in the buffers of this node's subscribers (SSE streams, "
                     "registry.events()).", samples=[((), node.subscriptions.depth)])
        yield _gauge("gossipreg_event_subscribers", "Open event subscriptions on this node.",
                     samples=[((), len(node.subscriptions))])
        yield _counter("gossipreg_send_errors_total", "Transport sends that failed.",
                       samples=[((), node.transport.send_errors)])
        yield _gauge("gossipreg_replica_entries", "Replica entries held, tombstones included.",
                     samples=[((), stats.replica_entries)])
        yield _gauge("gossipreg_runtimes", "Runtimes with visible agents.",
                     samples=[((), len(stats.runtimes))])
        yield _gauge("gossipreg_asyncio_tasks", "asyncio tasks alive in the node's process.",
                     samples=[((), len(asyncio.all_tasks()))])
        yield _gauge("gossipreg_build_info", "Always 1; the labels say what runs.",
                     ["version", "protocol"], [((__version__, str(PROTOCOL_VERSION)), 1)])

    def _events(self) -> Iterator[Metric]:
        t = self.nm.tally
        yield _counter("gossipreg_events_total", "Events this node made, by type.", ["type"],
                       sorted(((k.value,), v) for k, v in t.events.items()))
        yield _counter("gossipreg_agent_registrations_total",
                       "Agents that appeared here: own (hosted by this node) or peer.",
                       ["origin"], [((o,), t.registrations[o]) for o in ("own", "peer")])
        causes = {**{c.value: 0 for c in DEREGISTRATION_CAUSES}, **t.deregistrations}
        yield _counter("gossipreg_agent_deregistrations_total",
                       "Agents that disappeared here, by cause.", ["cause"],
                       sorted(((c,), v) for c, v in causes.items()))
        yield _counter("gossipreg_agent_status_changes_total",
                       "Status changes seen here, by new status and cause.",
                       ["status", "cause"], sorted(t.status_changes.items()))
        yield _counter("gossipreg_heartbeats_total",
                       "Heartbeats of the agents this node hosts (the owner judges them): "
                       "received, missed (marked unhealthy), expired (deregistered). Sum over "
                       "the nodes for the mesh.", ["outcome"],
                       [((o,), t.heartbeats[o]) for o in HEARTBEAT_OUTCOMES])
        joined, left = t.runtime_changes()
        yield _counter("gossipreg_runtimes_joined_total",
                       "Runtimes whose first agent appeared here.", samples=[((), joined)])
        yield _counter("gossipreg_runtimes_left_total",
                       "Runtimes whose last agent disappeared here.", samples=[((), left)])

    def _outcomes(self) -> Iterator[Metric]:
        for path, kind in OUTCOME_ROUTES.items():
            if not self.nm.served(path):
                continue
            seen = {o: v for (k, o), v in self.nm.outcomes.items() if k == kind}
            yield _counter(f"gossipreg_{kind}_total",
                           f"Answers of POST {path}, by outcome.", ["outcome"],
                           sorted(((o,), v) for o, v in {"ok": 0, **seen}.items()))


def _transport(t: dict[str, Any]) -> Iterator[Metric]:
    """Frames sent per path, drops per path and reason, silence hints, open links."""
    if not t:
        return
    yield _counter("gossipreg_transport_frames_sent_total", "Frames sent, by path.", ["path"],
                   [((p,), v) for p, v in sorted(t.get("frames_by_path", {}).items())])
    drops = [(("datagram", r), v)
             for r, v in sorted(t.get("datagram", {}).get("dropped", {}).items())]
    drops += [(("link", r), v) for r, v in sorted(t.get("links", {}).get("dropped", {}).items())]
    yield _counter("gossipreg_transport_dropped_total",
                   "Frames, datagrams and links the transport dropped, by path and reason.",
                   ["path", "reason"], drops)
    yield _counter("gossipreg_transport_silence_hints_total",
                   "Datagram peers reported unreachable for staying silent.",
                   samples=[((), t.get("silence_hints", 0))])
    if "links" in t:
        out, inbound = t["links"]["open"]
        yield _gauge("gossipreg_transport_links", "WebSocket links open.", ["direction"],
                     [(("out",), out), (("in",), inbound)])
