"""The kaizen attributes of :class:`~gossipreg.registry.AgentRegistry` (``agents``,
``runtime_agents``, ``capability_index``, ``status_index``), its metrics and the cache of the
``AgentMetadata`` its queries return, read from its node's replica: a part of the registry,
kept apart from its calls."""

from __future__ import annotations

from typing import Any

from gossipreg.core.types import AgentStatus, AgentView, MemberState
from gossipreg.io.runner import NodeRunner
from gossipreg.registry_types import AgentMetadata, metadata_of

__all__ = ["RegistryViews"]


class RegistryViews:
    """Read-only attributes over the registry's node (empty while it is not running)."""

    node: NodeRunner
    total_queries: int
    total_registrations: int
    total_deregistrations: int
    event_queue: Any
    broadcast_dropped: int

    _meta: dict[str, tuple[AgentView, AgentMetadata]]
    _objects: dict[str, Any]
    _explicit: set[str]

    def _apply_counters(self, m: AgentMetadata) -> AgentMetadata:
        raise NotImplementedError

    def _counted(self, ms: list[AgentMetadata]) -> list[AgentMetadata]:
        raise NotImplementedError

    def _metadata(self, v: AgentView) -> AgentMetadata:
        aid = v[0].agent_id
        cached = self._meta.get(aid)
        if cached is not None and cached[0] is v:  # views are immutable: same view, same data
            return self._apply_counters(cached[1])
        m = metadata_of(v, self._objects.get(aid), None if cached is None else cached[1],
                        aid in self._explicit)
        self._meta[aid] = (v, m)
        return self._apply_counters(m)

    def _metadata_all(self, views: list[AgentView]) -> list[AgentMetadata]:
        """:meth:`_metadata` of many views: the cached objects of the agents whose view did
        not change (each agent's cache entry goes with its view: never wholesale)."""
        meta, out = self._meta, list[AgentMetadata]()
        append = out.append
        for v in views:
            cached = meta.get(v[0].agent_id)
            append(cached[1] if cached is not None and cached[0] is v else self._metadata(v))
        return self._counted(out)

    async def _ensure_node(self) -> NodeRunner:
        raise NotImplementedError

    # ------------------------------------------------------- public attributes
    @property
    def agents(self) -> dict[str, AgentMetadata]:
        """Agent id -> metadata of every agent this node sees."""
        if not self.node.running:
            return {}
        return {aid: self._metadata(v) for aid, v in self.node.read.visible.items()}

    @property
    def runtime_agents(self) -> dict[str, set[str]]:
        """Runtime id -> ids of its visible agents."""
        if not self.node.running:
            return {}
        return self.node.read.runtimes()

    @property
    def capability_index(self) -> dict[str, set[str]]:
        """Lower-cased capability string -> agent ids."""
        if not self.node.running:
            return {}
        return {c: set(ids) for c, ids in self.node.read.capability_map().items()}

    @property
    def status_index(self) -> dict[AgentStatus, set[str]]:
        if not self.node.running:
            return {s: set() for s in AgentStatus}
        read = self.node.read
        return {s: set(read.ids_by_status(s)) for s in AgentStatus}

    async def get_metrics(self) -> dict[str, Any]:
        """kaizen's metrics keys, plus mesh figures."""
        node = await self._ensure_node()
        st = node.read.stats()
        counts, runtimes = st.status_counts, st.runtimes
        return {
            "total_agents": st.agents,
            "total_runtimes": len(runtimes),
            "status_distribution": {s.value: counts.get(s, 0) for s in AgentStatus},
            "runtime_distribution": runtimes,
            "total_queries": self.total_queries,
            "total_registrations": self.total_registrations,
            "total_deregistrations": self.total_deregistrations,
            "capability_index_size": st.distinct_capabilities,
            "events_dropped": (getattr(self.event_queue, "dropped", 0) + self.broadcast_dropped
                               + st.events_dropped),
            "node_id": node.name,
            "members_alive": st.member_counts[MemberState.ALIVE],
        }
