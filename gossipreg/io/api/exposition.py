"""The Prometheus side of ``GET /metrics`` (:mod:`gossipreg.io.api.metrics`): a collector that
reads a node's figures when scraped, in ``prometheus_client``'s registry. Imported at the first
scrape."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gossipreg.core.metrics import DROP_REASONS
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.core.wire.codec import PROTOCOL_VERSION
from gossipreg.io.api.tally import (
    BUCKETS,
    DEREGISTRATION_CAUSES,
    HEARTBEAT_OUTCOMES,
    OUTCOME_ROUTES,
    EventTally,
    Latency,
)
from gossipreg.io.memory import malloc_figures, python_figures
from gossipreg.version import __version__

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["Figures", "generate_latest", "registry_of"]


class Figures(Protocol):
    """What the collector reads (:class:`gossipreg.io.api.metrics.NodeMetrics`)."""

    node: NodeRunner
    tally: EventTally
    latency: Latency
    outcomes: Counter[tuple[str, str]]

    def served(self, path: str) -> bool: ...


def registry_of(nm: Figures) -> CollectorRegistry:
    """A registry of its own for one node's figures (nodes in one process never mix)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(nm))
    return registry


def _histogram(lat: Latency) -> HistogramMetricFamily:
    m = HistogramMetricFamily("gossipreg_search_duration_seconds",
                              "Time to answer a search, by surface (the handler, on this node).",
                              labels=["surface"])
    bounds = [*(repr(float(b)) for b in BUCKETS), "+Inf"]  # as prometheus_client writes them
    for surface, counts in lat.counts.items():
        total, buckets = 0, []
        for le, n in zip(bounds, counts, strict=True):
            total += n
            buckets.append((le, float(total)))
        m.add_metric([surface], buckets, lat.sums[surface])
    return m


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

    def __init__(self, nm: Figures) -> None:
        self.nm = nm

    def collect(self) -> Iterator[Metric]:
        yield from self._node()
        yield from _transport(self.nm.node.transport.stats())
        yield from self._events()
        yield _histogram(self.nm.latency)
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
        # What a node's memory is made of, for the soak: Python's heap beside the C allocator's.
        py, c = python_figures(), malloc_figures()
        yield _gauge("gossipreg_python_allocated_blocks",
                     "Blocks the interpreter has allocated (sys.getallocatedblocks).",
                     samples=[((), py["allocated_blocks"])])
        yield _gauge("gossipreg_gc_objects", "Objects the garbage collector tracks.",
                     samples=[((), py["gc_objects"])])
        yield _gauge("gossipreg_malloc_bytes",
                     "glibc's C heap (mallinfo2): arena (heap from the system), in_use, free "
                     "(held but unused), mmap (blocks mapped on their own).", ["part"],
                     [((k,), v) for k, v in c.items()])
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
