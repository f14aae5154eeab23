"""The one read surface of a node: everything a host, an API or a report may ask of the core.

Rules: reads only (nothing here changes state or queues a message); answers come from the local
view, index and member table, never from the network; callers outside the core ask here
instead of reaching into the node's parts, so those parts can change shape freely. Mappings
handed out are read-only views or fresh copies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from gossipreg.core.directory.records import AGENT, LOAD
from gossipreg.core.directory.view import View
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.replica.store import Replica
from gossipreg.core.search.query import Query
from gossipreg.core.search.rank import SearchHit
from gossipreg.core.types import (
    AgentLoad,
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberInfo,
    MemberState,
)

if TYPE_CHECKING:
    from gossipreg.core.route.select import Match, SelectQuery

__all__ = ["NodeStats", "Reader", "SearchMode", "Vitals"]

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


class SearchMode(NamedTuple):
    """How the node ranks free text: ``model`` None means lexical only; otherwise the model tag
    and length of the vectors fused in, how many visible agents have vectors in that model and
    how many records wait for this node's embedder."""

    model: str | None
    dims: int
    with_vectors: int
    pending: int


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

    def __init__(self, node_id: str, address: str, view: View, members: MemberTable,
                 metrics: Metrics, replica: Replica, own_agents: Callable[[], list[str]],
                 live: Callable[[], Vitals]) -> None:
        self._id = node_id
        self._addr = address
        self._visible = view.visible
        self._visible_ro = MappingProxyType(view.visible)
        self._index = view.index
        self._vectors = view.vectors
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

    def taken(self, agent_id: str) -> bool:
        """Whether registering ``agent_id`` here would be refused as a duplicate: it is
        visible, or this node holds a record of its own under that id (the directory's check,
        for a host that accepts a registration before it applies it)."""
        return agent_id in self._visible or self._replica.own_value(AGENT + agent_id) is not None

    @property
    def visible(self) -> Mapping[str, AgentView]:
        """Agent id -> view of every agent visible here (read-only, live)."""
        return self._visible_ro

    def find(self, q: Query) -> list[AgentView]:
        """Agents matching ``q``, ranked (kaizen's semantics; see :class:`Query`)."""
        vis = self._visible
        if not q.verified_only:
            return [vis[i] for i in self._index.find(q)]
        out = [v for i in self._index.find(dataclasses.replace(q, limit=None, offset=0))
               if (v := vis[i]).record.card_verified == "true"]
        return out[q.offset:None if q.limit is None else q.offset + q.limit]

    def search(self, text: str, filters: Mapping[str, Any] | None = None,
               limit: int | None = None, offset: int = 0,
               query: bytes | None = None, *, verified_only: bool = False) -> list[SearchHit]:
        """Agents ranked for free ``text``, under ARD query-model ``filters``
        (:func:`~gossipreg.core.search.ard.compile_filter`; ACTIVE only unless ``status`` is
        given). ``query`` is the text's int8 code in the model of :meth:`search_mode`: the
        ranking is then hybrid (:mod:`~gossipreg.core.search.hybrid`), else lexical (BM25F).
        ``verified_only``: only agents whose card signature this node verified."""
        vis, index = self._visible, self._index
        if verified_only:
            filters = {**(filters or {}), "cardVerified": "true"}
        if not filters:  # the default filter (ACTIVE) is the index's own status check
            hits = index.search(text, limit=limit, offset=offset, query=query)
        else:
            from gossipreg.core.search.ard import compile_filter  # at the first filter

            accept = compile_filter(filters)
            hits = index.search(text, status=None, limit=limit, offset=offset,
                                accept=lambda aid: accept(vis[aid]), query=query)
        return [SearchHit(vis[i], s) for i, s in hits]

    def load(self, agent_id: str) -> AgentLoad | None:
        """The load the visible agent's owner published (``load/<id>``), or None."""
        v = self._visible.get(agent_id)
        if v is None:
            return None
        value = self._replica.value(v.node_id, LOAD + agent_id)
        return value if type(value) is AgentLoad else None

    def pool(self, q: SelectQuery, limit: int | None = None,
             bindings: tuple[str, ...] | None = None) -> list[Match]:
        """The agents matching a selection query, most relevant first (at most ``limit``),
        each with its owner's state and published load (see ``core.route.select``; its
        ``BINDINGS`` when ``bindings`` is None)."""
        # Selection's module at the first selection: a node nobody asks to route never needs it.
        from gossipreg.core.route.select import BINDINGS, Match, usable_endpoint

        bindings = BINDINGS if bindings is None else bindings
        vis, members, value = self._visible, self._members, self._replica.value
        plain = not q.filters and q.statuses == {AgentStatus.ACTIVE}  # the index's own check
        from gossipreg.core.search.ard import compile_filter

        accept = None if plain else compile_filter(
            {**q.filters, "status": [s.value for s in q.statuses]})

        def ok(v: AgentView) -> bool:
            return (accept is None or accept(v)) and (
                not q.sendable or usable_endpoint(v.record, bindings) is not None)
        if q.text is not None:
            pairs = [(vis[a], s) for a, s in self._index.search(
                q.text, status=AgentStatus.ACTIVE if plain else None, limit=limit,
                accept=None if plain and not q.sendable else lambda aid: ok(vis[aid]))]
        elif q.capability is not None:
            views = [v for v in self.find(Query.of(q.capability, status=None)) if ok(v)
                     and (not plain or v.status is AgentStatus.ACTIVE)]
            pairs = [(v, 1.0 - i / len(views)) for i, v in enumerate(views[:limit])]
        else:
            found = [v for a in q.agent_ids or () if (v := vis.get(a)) is not None and ok(v)
                     and (not plain or v.status is AgentStatus.ACTIVE)]
            pairs = [(v, 1.0) for v in found[:limit]]
        out = []
        for v, score in pairs:
            m = members.get(v.node_id)
            load = value(v.node_id, LOAD + v.record.agent_id)
            out.append(Match(v, score, None if m is None else m.state,
                             load if type(load) is AgentLoad else None))
        return out

    def search_mode(self) -> SearchMode:
        """Whether searches fuse vectors in, of which model, and how far the embedding is."""
        v = self._vectors
        return SearchMode(v.model if v.active else None, v.dims, v.with_vectors(), v.pending())

    def list_agents(self, q: Query = _ANY) -> list[AgentView]:
        """Every visible agent passing ``q``'s status and runtime filters, by registration
        order (agents without capabilities included)."""
        out = [v for v in self._visible.values()
               if (q.runtime_id is None or v.record.runtime_id == q.runtime_id)
               and (q.status is None or v.status is q.status)
               and (not q.verified_only or v.record.card_verified == "true")]
        out.sort(key=lambda v: (v.record.registered_at, v.agent_id))
        end = None if q.limit is None else q.offset + q.limit
        return out[q.offset:end]

    def own_records(self) -> list[AgentRecord]:
        """The records of the agents this node hosts (visible here or not), by id."""
        own = self._replica.own_value
        return [r for aid in self.own_agents() if (r := own(AGENT + aid)) is not None]

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
