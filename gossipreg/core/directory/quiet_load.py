"""A quiet bulk load into the view (``View.apply(..., quiet=True)``: the simulator's warm start
and ``import_state(quiet=True)``; the half of :class:`~gossipreg.core.directory.view.View` that
shows many agents at once, a mixin).

Rules: agents appearing are shown without events and indexed in order, each run of ACTIVE
agents of one owner that the index does not hold in one ``CapabilityIndex.put_new`` call; a
visible agent is re-derived as usual, after the agents appearing before it are indexed (its
re-derivation reads the runtimes' counts). The state is the one the usual path leaves.
"""

from __future__ import annotations

from collections.abc import Iterable

from gossipreg.core.directory.records import StatusWrite
from gossipreg.core.directory.vectors import VectorFeed
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.types import AgentStatus, AgentView, Cause, RegistryEvent

__all__ = ["QuietLoad"]

_ACTIVE = AgentStatus.ACTIVE


class QuietLoad:
    """Showing a batch of agents without events (see the module rules)."""

    visible: dict[str, AgentView]
    index: CapabilityIndex
    vectors: VectorFeed
    _gone: dict[str, Cause]
    _resumed: set[str]
    _standing: dict[str, dict[str, StatusWrite]]

    def _derive(self, agent_id: str, now: float,
                seen: dict[str, tuple[bool, bool]] | None = None) -> AgentView | None: ...

    def _rederive(self, agent_id: str, now: float, wall: float, out: list[RegistryEvent],
                  cause: Cause | None, resumed: bool) -> None: ...

    def _index_put(self, v: AgentView) -> None: ...

    def _load(self, touched: Iterable[str], now: float, wall: float,
              out: list[RegistryEvent], cause: Cause | None) -> None:
        """A quiet batch: agents appearing are shown without events, others re-derived
        (owners' states looked up once: they do not change in a batch)."""
        seen: dict[str, tuple[bool, bool]] = {}
        visible, gone, resumed = self.visible, self._gone, self._resumed
        shown: list[AgentView] = []  # appearing, not indexed yet
        for agent_id in touched:
            if agent_id in visible:
                if shown:
                    self._index_new(shown)
                self._rederive(agent_id, now, wall, out, gone.get(agent_id, cause),
                               agent_id in resumed)
            elif (new := self._derive(agent_id, now, seen)) is not None:
                visible[agent_id] = new
                shown.append(new)
            elif self._standing:
                self._standing.pop(agent_id, None)
        if shown:
            self._index_new(shown)

    def _index_new(self, views: list[AgentView]) -> None:
        """Index agents appearing, in order (see the module rules), then empty ``views``."""
        index, vectors = self.index, self.vectors
        i, n = 0, len(views)
        while i < n:
            first = views[i]
            j = i + 1
            if first.status is _ACTIVE and first.record.agent_id not in index:
                node = first.node_id
                while (j < n and views[j].node_id == node and views[j].status is _ACTIVE
                       and views[j].record.agent_id not in index):
                    j += 1
                records = [v.record for v in views[i:j]]
                index.put_new(records, [r.agent_id for r in records], node)
                for v in views[i:j]:
                    vectors.shown(v)
            else:
                self._index_put(first)
            i = j
        views.clear()
