"""What a node's events say, counted for ``/metrics``: registrations, deregistrations by cause,
status changes, runtimes joining and leaving, and the owner's heartbeat figures; and the
search latency histogram's buckets (:class:`Latency`), counted in plain Python too so that
``prometheus_client`` is imported only when ``/metrics`` is first scraped.

The core keeps no such counters, and adding them to it would put them on the path every
simulated node runs too. The events exist anyway and pass once through the runner's pump on
their way to the ring and the subscribers; :meth:`EventTally.count` is one more listener there
(a few dictionary increments per event), and the Prometheus collector reads the totals only
when ``/metrics`` is scraped.

Which node to read:

- registrations, deregistrations, status changes and runtime figures are what *this* node saw;
  every node sees the whole mesh's, so a dashboard reads one node (or the maximum), never a sum;
- heartbeat figures are the *owner's* (the node that hosts the agent judges its heartbeats): a
  node counts them only for its own agents, so a dashboard sums them over all nodes for the
  mesh, or reads the agent's owner (its ``node_id``) for one agent.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable

from gossipreg.core.types import Cause, RegistryEvent, RegistryEventType

__all__ = ["BUCKETS", "DEREGISTRATION_CAUSES", "HEARTBEAT_OUTCOMES", "OUTCOME_ROUTES",
           "EventTally", "Latency"]

E = RegistryEventType
# Every cause an agent can disappear for (each series exists from the start).
DEREGISTRATION_CAUSES = (Cause.DEREGISTERED, Cause.HEARTBEAT_EXPIRED, Cause.OWNER_FAILED,
                         Cause.OWNER_LEFT, Cause.OWNER_RESTARTED, Cause.MOVED)
HEARTBEAT_OUTCOMES = ("received", "missed", "expired")
_MISSED = Cause.HEARTBEAT_MISSED.value
_EXPIRED = Cause.HEARTBEAT_EXPIRED.value
# Looked up once: an enum member read off its class costs more than the rest of a count.
_HEARTBEAT, _REGISTERED = E.AGENT_HEARTBEAT, E.AGENT_REGISTERED
_DEREGISTERED, _STATUS = E.AGENT_DEREGISTERED, E.AGENT_STATUS_CHANGED


class EventTally:
    """Totals of one node's events (see the module docstring); ``owner_of(agent_id)`` names the
    node hosting a visible agent (None when it is not visible)."""

    def __init__(self, node_id: str, owner_of: Callable[[str], str | None]) -> None:
        self.node_id = node_id
        self._owner_of = owner_of
        self.events: Counter[RegistryEventType] = Counter()  # event type -> count
        self.registrations: Counter[str] = Counter()  # "own" (hosted here) or "peer"
        self.deregistrations: Counter[str] = Counter()  # cause -> count
        self.status_changes: Counter[tuple[str, str]] = Counter()  # (new status, cause)
        self.heartbeats: Counter[str] = Counter()  # HEARTBEAT_OUTCOMES, this node's agents

    def count(self, ev: RegistryEvent) -> None:
        """Count one event (the node's listener: called once per event, in order)."""
        kind = ev.event_type
        self.events[kind] += 1
        meta = ev.metadata
        if kind is _HEARTBEAT:
            if ev.agent_id is not None and self._owner_of(ev.agent_id) == self.node_id:
                self.heartbeats["received"] += 1
        elif kind is _REGISTERED:
            self.registrations["own" if meta.get("node_id") == self.node_id else "peer"] += 1
        elif kind is _DEREGISTERED:
            cause = str(meta.get("cause", ""))
            self.deregistrations[cause] += 1
            if cause == _EXPIRED and meta.get("node_id") == self.node_id:
                self.heartbeats["expired"] += 1
        elif kind is _STATUS:
            cause = str(meta.get("cause", ""))
            self.status_changes[(str(meta.get("new_status", "")), cause)] += 1
            if (cause == _MISSED and ev.agent_id is not None
                    and self._owner_of(ev.agent_id) == self.node_id):
                self.heartbeats["missed"] += 1

    def runtime_changes(self) -> tuple[int, int]:
        """Runtimes that joined and that left, as this node saw them."""
        return self.events[E.RUNTIME_JOINED], self.events[E.RUNTIME_LEFT]


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
