"""The plain calls of a node: reads of its local replica (no network, no await) and its
keyring. :class:`NodeReads` is a part of :class:`~gossipreg.io.runner.NodeRunner`; the calls
that change the mesh are in :mod:`gossipreg.io.writes`."""

from __future__ import annotations

from collections.abc import Sequence

from gossipreg.core.node import Node
from gossipreg.core.reader import Reader
from gossipreg.core.search.query import Query
from gossipreg.core.types import AgentStatus, AgentView, MemberInfo, RegistryEventType
from gossipreg.core.wire.keyring import Keyring

__all__ = ["NodeReads", "RunnerParts"]


class RunnerParts:
    """What a part of :class:`~gossipreg.io.runner.NodeRunner` uses of it (a mixin base): its
    core, its clock and its pump, which the runner provides."""

    @property
    def core(self) -> Node:
        raise NotImplementedError

    def _now(self) -> float:
        raise NotImplementedError

    def _pump(self, reply_to: str | None = None) -> bytes | None:
        raise NotImplementedError

    def takes(self, kind: RegistryEventType) -> bool:
        raise NotImplementedError


class NodeReads(RunnerParts):
    """Reads and key changes over the runner's core (statuses by enum or by value)."""

    # --------------------------------------------------------------- queries
    @property
    def read(self) -> Reader:
        """The core's read surface (visible agents, members, stats): local, no network."""
        return self.core.read

    def get(self, agent_id: str) -> AgentView | None:
        return self.core.read.get(agent_id)

    def find(self, capability: Query | str | Sequence[str] = "", *,
             status: AgentStatus | str | None = AgentStatus.ACTIVE, runtime_id: str | None = None,
             tags: Sequence[str] = (), node_id: str | None = None, limit: int | None = None,
             offset: int = 0, verified_only: bool = False) -> list[AgentView]:
        """Agents whose capabilities contain every term (case-insensitive), ranked; pass a
        :class:`~gossipreg.core.search.query.Query` or its fields (see there for the semantics;
        ``verified_only``: agents whose card signature this node verified)."""
        q = capability if isinstance(capability, Query) else Query.of(
            capability, status=status, runtime_id=runtime_id, tags=tags, node_id=node_id,
            limit=limit, offset=offset, verified_only=verified_only)
        return self.core.read.find(q)

    def list_agents(self, runtime_id: str | None = None,
                    status: AgentStatus | str | None = None) -> list[AgentView]:
        """Every visible agent (those without capabilities too), by registration order."""
        return self.core.read.list_agents(Query.of(status=status, runtime_id=runtime_id))

    def members(self) -> list[MemberInfo]:
        return self.core.read.members()

    # ------------------------------------------------------------------ keys
    @property
    def keyring(self) -> Keyring | None:
        """A copy of the node's keyring (None: frames are unsigned); change it through
        :meth:`install_key`, :meth:`use_key` and :meth:`remove_key`."""
        keys = self.core.keys
        return Keyring(keys) if keys else None

    def install_key(self, key: bytes) -> None:
        """Add a key that verifies (rotation step 1, on every node)."""
        self.core.install_key(key)

    def use_key(self, key: bytes) -> None:
        """Sign with an installed key (rotation step 2)."""
        self.core.use_key(key)

    def remove_key(self, key: bytes) -> None:
        """Stop accepting a key (rotation step 3)."""
        self.core.remove_key(key)
