"""The one read surface of a node: everything a host, an API or a report may ask of the core.

Rules: reads only (nothing here changes state or queues a message); answers come from the local
view, index and member table, never from the network; callers outside the core ask here
instead of reaching into the node's parts, so those parts can change shape freely. Mappings
handed out are read-only views or fresh copies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.replica.store import Replica
from gossipreg.core.search.ard import compile_filter
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.query import Query
from gossipreg.core.search.rank import SearchHit
from gossipreg.core.types import AgentStatus, AgentView, MemberInfo, MemberState

__all__ = ["NodeStats", "Reader", "Vitals"]

_ANY = Query(status=None)  # every visible agent


class Vitals(NamedTuple):
    """What the node's other parts know of it: left, health score, broadcast queue depth,
    events dropped, joined, why a join was refused."""

    left: bool
    health: int
    queue_depth: int
    events_dropped: int
    joined: bool
    refused: str | None


class NodeStats(NamedTuple):
    """A node's vital figures (health endpoints, metrics, reports)."""

    node_id: str
    address: str
    left: bool
    member_counts: dict[MemberState, int]  # members by state (this node included)
    agents: int
    status_counts: dict[AgentStatus, int]
    runtimes: dict[str, int]
    distinct_capabilities: int
    health_score: int
    queue_depth: int
    events_dropped: int
    replica_entries: int  # keys held, tombstones included
    joined: bool  # a seed answered our join (or there was nothing to join)
    join_refused: str | None  # why a seed refused our join (a duplicate name), if one did


class Reader:
    """Read-only answers over one node's state (see the module docstring)."""

    def __init__(self, node_id: str, address: str, visible: dict[str, AgentView],
                 index: CapabilityIndex, members: MemberTable, metrics: Metrics,
                 replica: Replica, own_agents: Callable[[], list[str]],
                 live: Callable[[], Vitals]) -> None:
        self._id = node_id
        self._addr = address
        self._visible = visible
        self._visible_ro = MappingProxyType(visible)
        self._index = index
        self._members = members
        self._metrics = metrics
        self._replica = replica
        self.own_agents = own_agents
        """Ids of the agents this node hosts (its own records, visible or not), sorted."""
        self._live = live  # state the node's other parts own

    # ----------------------------------------------------------------- agents
    def get(self, agent_id: str) -> AgentView | None:
        """The agent as this node sees it, or None when it is not visible here."""
        return self._visible.get(agent_id)

    @property
    def visible(self) -> Mapping[str, AgentView]:
        """Agent id -> view of every agent visible here (read-only, live)."""
        return self._visible_ro

    def find(self, q: Query) -> list[AgentView]:
        """Agents matching ``q``, ranked (kaizen's semantics; see :class:`Query`)."""
        vis = self._visible
        return [vis[i] for i in self._index.find(q)]

    def search(self, text: str, filters: Mapping[str, Any] | None = None,
               limit: int | None = None, offset: int = 0) -> list[SearchHit]:
        """Agents ranked for free ``text`` (BM25F), under ARD query-model ``filters``
        (:func:`~gossipreg.core.search.ard.compile_filter`; ACTIVE only unless ``status`` is
        given)."""
        vis, index = self._visible, self._index
        if not filters:  # the default filter (ACTIVE) is the index's own status check
            hits = index.search(text, limit=limit, offset=offset)
        else:
            accept = compile_filter(filters)
            hits = index.search(text, status=None, limit=limit, offset=offset,
                                accept=lambda aid: accept(vis[aid]))
        return [SearchHit(vis[i], s) for i, s in hits]

    def list_agents(self, q: Query = _ANY) -> list[AgentView]:
        """Every visible agent passing ``q``'s status and runtime filters, by registration
        order (agents without capabilities included)."""
        out = [v for v in self._visible.values()
               if (q.runtime_id is None or v.record.runtime_id == q.runtime_id)
               and (q.status is None or v.status is q.status)]
        out.sort(key=lambda v: (v.record.registered_at, v.agent_id))
        end = None if q.limit is None else q.offset + q.limit
        return out[q.offset:end]

    def runtimes(self) -> dict[str, set[str]]:
        """Runtime id -> ids of its visible agents."""
        out: dict[str, set[str]] = {}
        for aid, v in self._visible.items():
            out.setdefault(v.record.runtime_id, set()).add(aid)
        return out

    def capability_map(self) -> dict[str, frozenset[str]]:
        """Lower-cased capability string -> ids of the agents declaring it."""
        return self._index.capability_map()

    def ids_by_status(self, status: AgentStatus) -> frozenset[str]:
        return self._index.ids_by_status(status)

    def replica_state(self) -> dict[str, tuple[int, dict[str, tuple[int, Any]]]]:
        """Owner -> (generation, key -> (version, value)) of every live key of the replica (a
        fresh copy: what replicas that converged hold alike)."""
        return self._replica.live_state()

    # ---------------------------------------------------------------- members
    def members(self) -> list[MemberInfo]:
        """Every member this node knows of (itself included), in any state."""
        return self._members.info()

    def has_live_peers(self) -> bool:
        return bool(self._members.live_others)

    def features_at(self, addr: str) -> int:
        """The feature bits the member reached at ``addr`` announced for its running
        generation (0: none heard, or no such member): which paths a transport may use."""
        m = self._members.by_addr(addr)
        return m.features if m is not None and m.features_known else 0

    # ------------------------------------------------------------------ stats
    def metrics(self) -> Metrics:
        """The node's counters (packets, bytes, drops by reason, probes...), live: read them,
        never change them."""
        return self._metrics

    def stats(self) -> NodeStats:
        left, health, depth, dropped, joined, refused = self._live()
        return NodeStats(
            node_id=self._id, address=self._addr, left=left,
            member_counts={s: self._members.count(s) for s in MemberState},
            agents=len(self._visible), status_counts=self._index.status_counts(),
            runtimes=self._index.runtimes(),
            distinct_capabilities=self._index.distinct_capabilities(),
            health_score=health, queue_depth=depth, events_dropped=dropped,
            replica_entries=len(self._replica), joined=joined, join_refused=refused)
