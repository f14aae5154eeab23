"""Prometheus text exposition (format 0.0.4) of a node's counters, written by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gossipreg.core.metrics import DROP_REASONS, Metrics
from gossipreg.core.reader import NodeStats
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.core.wire.codec import PROTOCOL_VERSION
from gossipreg.version import __version__

__all__ = ["render_metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(stats: NodeStats, m: Metrics, *, stream_drops: int, send_errors: int,
                   asyncio_tasks: int, transport: Mapping[str, Any] | None = None) -> str:
    """The exposition of one node: its stats and counters, the events its subscribers' full
    buffers dropped (``stream_drops``), its transport's failed sends and counters by path
    (``transport``: ``LinkTransport.stats()``) and the asyncio tasks alive in its process."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str,
               samples: list[tuple[dict[str, str], float]]) -> None:
        out.append(f"# HELP gossipreg_{name} {help_}")
        out.append(f"# TYPE gossipreg_{name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            out.append(f"gossipreg_{name}{{{lab}}} {value}" if lab
                       else f"gossipreg_{name} {value}")

    metric("members", "gauge", "Members by state.",
           [({"state": s.name.lower()}, stats.member_counts[s]) for s in MemberState])
    counts = stats.status_counts
    metric("agents", "gauge", "Visible agents by status.",
           [({"status": s.value}, counts.get(s, 0)) for s in AgentStatus])
    metric("packets_in_total", "counter", "Packets received.", [({}, m.packets_in)])
    metric("packets_out_total", "counter", "Packets sent.", [({}, m.packets_out)])
    metric("received_bytes_total", "counter", "Frame bytes received.", [({}, m.bytes_in)])
    metric("sent_bytes_total", "counter", "Frame bytes sent.", [({}, m.bytes_out)])
    metric("message_sent_bytes_total", "counter", "Message bytes sent by traffic class.",
           [({"class": k}, v) for k, v in sorted(m.bytes_out_by_category.items())])
    metric("packets_dropped_total", "counter", "Packets or messages dropped, by reason.",
           [({"reason": k}, v) for k, v in sorted({**dict.fromkeys(DROP_REASONS, 0),
                                                    **m.dropped}.items())])
    metric("broadcast_queue_depth", "gauge", "Broadcasts waiting to be gossiped.",
           [({}, stats.queue_depth)])
    metric("health_score", "gauge", "Lifeguard local health score (0 is healthy).",
           [({}, stats.health_score)])
    dropped = stats.events_dropped + stream_drops
    metric("events_dropped_total", "counter", "Events dropped by full buffers.",
           [({}, dropped)])
    metric("send_errors_total", "counter", "Transport sends that failed.",
           [({}, send_errors)])
    if transport:
        _transport_metrics(metric, transport)
    metric("replica_entries", "gauge", "Replica entries held, tombstones included.",
           [({}, stats.replica_entries)])
    metric("asyncio_tasks", "gauge", "asyncio tasks alive in the node's process.",
           [({}, asyncio_tasks)])
    metric("build_info", "gauge", "Always 1; the labels say what runs.",
           [({"version": __version__, "protocol": str(PROTOCOL_VERSION)}, 1)])
    return "\n".join(out) + "\n"


def _transport_metrics(metric: Callable[[str, str, str, list[tuple[dict[str, str], float]]],
                                        None], t: Mapping[str, Any]) -> None:
    """Frames sent per path, drops per path and reason (hostile input, full queues), links."""
    metric("transport_frames_sent_total", "counter", "Frames sent, by path.",
           [({"path": p}, v) for p, v in sorted(t.get("frames_by_path", {}).items())])
    drops = [({"path": "datagram", "reason": r}, v)
             for r, v in sorted(t.get("datagram", {}).get("dropped", {}).items())]
    drops += [({"path": "link", "reason": r}, v)
              for r, v in sorted(t.get("links", {}).get("dropped", {}).items())]
    metric("transport_dropped_total", "counter",
           "Frames, datagrams and links the transport dropped, by path and reason.", drops)
    metric("transport_silence_hints_total", "counter",
           "Datagram peers reported unreachable for staying silent.",
           [({}, t.get("silence_hints", 0))])
    if "links" in t:
        out, inbound = t["links"]["open"]
        metric("transport_links", "gauge", "WebSocket links open.",
               [({"direction": "out"}, out), ({"direction": "in"}, inbound)])
