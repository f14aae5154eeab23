"""The kaizen-facing values of ``AgentRegistry``: its config, event and metadata classes, the
never-blocking event queue and the capability extraction rules.

Rules: names, fields and defaults are kaizen's (``kaizen.orchestration.AgentRegistry``, 2.2.1),
so code that builds or reads them runs unchanged; what goes beyond kaizen is marked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from gossipreg.core.directory.cards import agent_capabilities, agent_card
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentStatus, AgentView, Endpoint, RegistryEventType
from gossipreg.core.types import RegistryEvent as CoreEvent

__all__ = ["AgentMetadata", "AgentRegistryConfig", "DroppingQueue", "RegistryEvent",
           "extract_capabilities", "metadata_of"]

# The caller's task bookkeeping on an AgentMetadata, kept across refreshes of the agent.
_BOOKKEEPING = ("active_tasks", "completed_tasks", "failed_tasks", "budget_spent_usd",
                "error_count", "request_count")


@dataclass
class AgentRegistryConfig:
    """kaizen's registry settings, same names and defaults. ``heartbeat_timeout`` and
    ``auto_deregister_timeout`` drive the owner's heartbeat judge; the index is always on."""

    enable_heartbeat_monitoring: bool = True
    heartbeat_timeout: float = 60.0
    auto_deregister_timeout: float = 300.0
    enable_capability_indexing: bool = True
    rebuild_index_interval: float = 300.0
    enable_event_broadcasting: bool = True
    event_queue_size: int = 1000
    max_concurrent_queries: int = 100
    query_timeout: float = 5.0


@dataclass
class RegistryEvent:
    """kaizen's event: ``timestamp`` is a timezone-aware UTC datetime."""

    event_type: RegistryEventType
    agent_id: str | None = None
    runtime_id: str | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: dict[str, Any] = field(default_factory=dict)
    # Beyond kaizen: the event's id in its node's stream, to resume from (events(since=)).
    event_id: str | None = field(default=None, compare=False)

    @classmethod
    def from_core(cls, ev: CoreEvent, stream_id: str | None = None) -> RegistryEvent:
        return cls(ev.event_type, ev.agent_id, ev.runtime_id,
                   datetime.fromtimestamp(ev.timestamp, UTC), dict(ev.metadata),
                   None if stream_id is None else f"{stream_id}-{ev.seq}")


@dataclass
class AgentMetadata:
    """What queries return (kaizen's fields, plus ``runtime_id``, ``node_id``, ``endpoints``
    and friends).

    ``agent`` is the registered object on the node that registered it, elsewhere a plain
    description (name, description, capabilities, endpoints). ``endpoints`` are where the
    agent is reached (URL, transport, protocol version; from A2A 1.0 and 0.3 cards and kaizen
    cards with a URL), in card order. The task counters are this node's view: the sends that
    went through it (``send``/``route_task``) count there.
    """

    agent_id: str
    agent: Any
    runtime_id: str
    node_id: str
    name: str
    capabilities: list[str]
    description: str
    tags: list[str]
    a2a_card: dict[str, Any] | None
    status: AgentStatus
    last_heartbeat: datetime
    registered_at: datetime
    heartbeat_count: int = 0
    max_concurrency: int = 10
    memory_limit_mb: int = 512
    budget_limit_usd: float = 1.0
    active_tasks: int = 0
    completed_tasks: int = 0
    failed_tasks: int = 0
    budget_spent_usd: float = 0.0
    error_count: int = 0
    request_count: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)


class DroppingQueue(asyncio.Queue[RegistryEvent]):
    """An ``asyncio.Queue`` that never blocks a producer: when full, the oldest item goes."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.dropped = 0

    def put_nowait(self, item: RegistryEvent) -> None:
        if self.maxsize > 0 and self.full():
            self.get_nowait()
            self.dropped += 1
        super().put_nowait(item)

    async def put(self, item: RegistryEvent) -> None:
        self.put_nowait(item)


def extract_capabilities(agent: Any, explicit: Sequence[str] | None = None) -> list[str]:
    """Capabilities of an agent, from (first match): ``explicit``; its card (kaizen's
    ``_a2a_card`` dict: ``capability`` and ``capabilities``; an A2A card's skills: name,
    description and tags) found as ``_a2a_card``/``a2a_card``/``agent_card``; a
    ``capabilities`` attribute. Raises ``InvalidArgumentError`` (a ``ValueError``) for a
    non-string capability or a card of an unknown kind."""
    if explicit is not None:
        if isinstance(explicit, str) or not isinstance(explicit, Sequence):
            # The HTTP API's and make_record's message: a string is not six capabilities.
            raise InvalidArgumentError("capabilities must be a list of strings")
        return agent_capabilities(SimpleNamespace(capabilities=list(explicit)), None)
    return agent_capabilities(agent, agent_card(agent))


def metadata_of(v: AgentView, local: Any, old: AgentMetadata | None) -> AgentMetadata:
    """What queries return for the visible agent ``v``: ``local`` is the object registered
    on this node (elsewhere a plain description stands in), ``old`` the previous metadata of
    the agent, whose task bookkeeping carries over."""
    r = v.record
    m = AgentMetadata(
        agent_id=r.agent_id,
        agent=local if local is not None else SimpleNamespace(
            agent_id=r.agent_id, name=r.name, description=r.description,
            capabilities=list(r.capabilities), runtime_id=r.runtime_id, node_id=v.node_id,
            endpoints=list(r.endpoints)),
        runtime_id=r.runtime_id, node_id=v.node_id, name=r.name,
        capabilities=list(r.capabilities), description=r.description, tags=list(r.tags),
        a2a_card=r.card, status=v.status,
        last_heartbeat=datetime.fromtimestamp(v.last_heartbeat, UTC),
        registered_at=datetime.fromtimestamp(r.registered_at, UTC),
        heartbeat_count=v.heartbeat_count, max_concurrency=r.max_concurrency,
        memory_limit_mb=r.memory_limit_mb, budget_limit_usd=r.budget_limit_usd,
        endpoints=list(r.endpoints))
    if old is not None:
        for k in _BOOKKEEPING:
            setattr(m, k, getattr(old, k))
    return m
