"""Select and send through ``AgentRegistry``, and kaizen's ``route_task`` mesh-wide.

``AgentRegistry`` gains (from :class:`RoutingMixin`): ``select`` (a plain call), ``send``,
``send_stream`` and ``set_load`` (awaitable), all on the node's one router
(``gossipreg.io.route.router``), so cursors, cooldowns and the caller's task counters are
shared with the node's HTTP API. Metadata returned by the registry carries those counters
(``request_count``, ``completed_tasks``, ``failed_tasks``, ``error_count``, ``active_tasks``):
this node's view of the sends it made.

kaizen's ``OrchestrationRuntime.route_task(task, strategy=RoutingStrategy...)`` maps onto the
mesh with the same names (:class:`MeshOrchestrationRuntime`):

========================  =====================================================================
kaizen strategy           mesh selection
========================  =====================================================================
``SEMANTIC``              ``best``: the node's ranked search for the task's text
``ROUND_ROBIN``           ``round_robin`` over the ACTIVE agents (of ``required_capability``)
``RANDOM``                ``random`` over the same agents
``LEAST_LOADED``          ``least_loaded``: owners' published ``active_tasks/max_concurrency``
========================  =====================================================================

``route_task`` returns the chosen agent's :class:`~gossipreg.registry_types.AgentMetadata` (or
None when nothing matches), as kaizen does; ``execute_task`` also delivers the task over A2A
and returns the :class:`~gossipreg.io.route.router.SendResult`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from gossipreg.core.errors import NoMatchError
from gossipreg.core.route.select import Candidate
from gossipreg.core.types import AgentStatus
from gossipreg.io.route.router import Router, SendResult, router_for

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner
    from gossipreg.registry_types import AgentMetadata

__all__ = ["MeshOrchestrationRuntime", "RoutingMixin", "RoutingStrategy"]

_COUNTERS = ("request_count", "completed_tasks", "failed_tasks", "error_count", "active_tasks")


class RoutingStrategy(str, Enum):
    """kaizen's routing strategies, by kaizen's names."""

    SEMANTIC = "semantic"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_LOADED = "least_loaded"


_MESH = {RoutingStrategy.SEMANTIC: "best", RoutingStrategy.ROUND_ROBIN: "round_robin",
         RoutingStrategy.RANDOM: "random", RoutingStrategy.LEAST_LOADED: "least_loaded"}


class RoutingMixin:
    """Select and send on ``AgentRegistry`` (see the module docstring)."""

    node: NodeRunner

    @property
    def router(self) -> Router:
        """The node's router: cursors, breakers, counters."""
        return router_for(self.node)

    def _apply_counters(self, m: AgentMetadata) -> AgentMetadata:
        c = router_for(self.node).counters.get(m.agent_id) if self.node.running else None
        if c is not None:
            for k in _COUNTERS:
                setattr(m, k, getattr(c, k))
        return m

    def select(self, text: str | None = None, *, capability: str | None = None,
               agent_ids: Sequence[str] | None = None, strategy: Any = "best", k: int = 3,
               filters: Mapping[str, Any] | None = None, status: Any = None
               ) -> list[Candidate]:
        """Ranked candidates (agent id, endpoint, score, status, load, why); see
        :meth:`gossipreg.io.gossip_node.GossipNode.select`. Raises ``NoMatchError``."""
        return self.router.select(text, capability=capability, agent_ids=agent_ids,
                                  strategy=strategy, k=k, filters=filters, status=status)

    async def send(self, text: str | None = None, *, message: Any,
                   capability: str | None = None, agent_ids: Sequence[str] | None = None,
                   strategy: Any = "best", filters: Mapping[str, Any] | None = None,
                   status: Any = None, deadline: float = 30.0, attempts: int = 3,
                   idempotent: bool = False) -> SendResult:
        """Select and deliver ``message`` over A2A with failover; see
        :meth:`gossipreg.io.gossip_node.GossipNode.send`."""
        r = self.router
        q = r.query(text, capability=capability, agent_ids=agent_ids, filters=filters,
                    status=status)
        return await r.send(r.plan(message, q, strategy, deadline=deadline, attempts=attempts,
                                   idempotent=idempotent))

    async def send_stream(self, text: str | None = None, *, message: Any,
                          strategy: Any = "best", deadline: float = 30.0, attempts: int = 3,
                          idempotent: bool = False, **select: Any
                          ) -> AsyncIterator[tuple[str, Any]]:
        """:meth:`send` with the agent's events passed on as they come."""
        r = self.router
        plan = r.plan(message, r.query(text, **select), strategy, deadline=deadline,
                      attempts=attempts, idempotent=idempotent, stream=True)
        async for item in r.run(plan):
            yield item

    async def set_load(self, agent_id: str, active_tasks: int, max_concurrency: int) -> bool:
        """Publish an agent's load (only on the node that hosts it: False elsewhere); written
        when it changed by a step of 10 % of capacity or crossed full or idle, at most once
        per ``load_interval``."""
        return await self.router.set_load(agent_id, active_tasks, max_concurrency)


class _Registry(Protocol):
    node: NodeRunner

    def select(self, text: str | None = None, **kw: Any) -> list[Candidate]: ...
    async def send(self, text: str | None = None, *, message: Any,
                   **kw: Any) -> SendResult: ...
    async def get_agent(self, agent_id: str) -> AgentMetadata | None: ...


class MeshOrchestrationRuntime:
    """kaizen's ``OrchestrationRuntime`` routing, over the mesh (see the module docstring);
    ``registry`` is an ``AgentRegistry``."""

    def __init__(self, registry: _Registry) -> None:
        self.registry = registry

    def _query(self, task: str, strategy: RoutingStrategy,
               required_capability: str | None) -> dict[str, Any]:
        if required_capability:
            return {"capability": required_capability}
        if strategy is RoutingStrategy.SEMANTIC:
            return {"text": task}
        ids = sorted(self.registry.node.read.ids_by_status(AgentStatus.ACTIVE))
        if not ids:
            raise NoMatchError("no ACTIVE agent in the mesh")
        return {"agent_ids": ids}

    async def route_task(self, task: str,
                         strategy: RoutingStrategy | str = RoutingStrategy.SEMANTIC,
                         required_capability: str | None = None) -> AgentMetadata | None:
        """The agent to give ``task`` to, or None when none matches."""
        s = RoutingStrategy(strategy)
        try:
            q = self._query(task, s, required_capability)
            top = self.registry.select(strategy=_MESH[s], k=1, **q)[0]
        except NoMatchError:
            return None
        return await self.registry.get_agent(top.agent_id)

    async def execute_task(self, task: str,
                           strategy: RoutingStrategy | str = RoutingStrategy.SEMANTIC,
                           required_capability: str | None = None, *,
                           deadline: float = 30.0, attempts: int = 3,
                           idempotent: bool = False) -> SendResult:
        """Route ``task`` and deliver it over A2A (failing over like ``send``)."""
        s = RoutingStrategy(strategy)
        return await self.registry.send(message=task, strategy=_MESH[s], deadline=deadline,
                                        attempts=attempts, idempotent=idempotent,
                                        **self._query(task, s, required_capability))
