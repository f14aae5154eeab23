"""What a simulated cluster's nodes see, compared (the checks tests and runs make).

Rules: reads only, through each node's read surface; DEAD and LEFT rows are not compared (a node
that joined later never learns of members gone before it came, and need not).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

from gossipreg.core.node import Node
from gossipreg.core.types import MemberState

__all__ = ["ClusterViews"]


class ClusterViews:
    """The checks of :class:`sim.cluster.Cluster` (a mixin: it supplies ``node`` and
    ``live``)."""

    @abstractmethod
    def node(self, name: str) -> Node: ...

    @abstractmethod
    def live(self) -> list[str]: ...

    def member_view(self, name: str) -> dict[str, MemberState]:
        return {m.node_id: m.state for m in self.node(name).read.members()}

    def members_agree(self, names: Iterable[str] | None = None) -> bool:
        """Every node sees the same members running (ALIVE or SUSPECT) in the same state.
        DEAD and LEFT rows are not compared: a node that joined later never learns of members
        that were gone before it came, and need not."""
        names = list(names) if names is not None else self.live()
        running = (MemberState.ALIVE, MemberState.SUSPECT)
        views = [{k: s for k, s in self.member_view(n).items() if s in running} for n in names]
        return all(v == views[0] for v in views)

    def all_alive_everywhere(self, names: Iterable[str] | None = None) -> bool:
        names = list(names) if names is not None else self.live()
        want = set(names)
        for n in names:
            v = self.member_view(n)
            if {k for k, s in v.items() if s is MemberState.ALIVE} != want:
                return False
        return True

    def replicas_equal(self, names: Iterable[str] | None = None) -> bool:
        names = list(names) if names is not None else self.live()
        if not names:
            return True
        # One state at a time: at 1,000 nodes x 10,000 agents, holding them all costs gigabytes.
        first = self.node(names[0]).read.replica_state()
        return all(self.node(n).read.replica_state() == first for n in names[1:])

    def visible_agents(self, name: str) -> dict[str, str]:
        return {a: v.status.value for a, v in self.node(name).read.visible.items()}
