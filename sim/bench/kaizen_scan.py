"""A stand-in for kailash-kaizen's ``AgentRegistry`` (2.2.1) when kaizen is not importable:
the same data structures and the same work per call, so ``python -m sim.bench.registry`` has a
baseline on any machine. It says so in its output; the figures that count are those against
kaizen itself.

What it copies from kaizen: registration builds one metadata object (a dataclass with kaizen's
fields), adds it to the agents dict, the runtime and status sets and the capability index
(lower-cased strings from the ``_a2a_card`` dict), and emits RUNTIME_JOINED / AGENT_REGISTERED
events into a bounded ``asyncio.Queue`` with a blocking ``put`` (a full queue waits for the
broadcaster task); ``find_agents_by_capability`` scans every agent, matches a case-insensitive
substring on each capability, scores the first match by Jaccard word overlap, and sorts.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = ["AgentRegistry", "AgentRegistryConfig", "AgentStatus", "RegistryEventType"]


class AgentStatus(str, Enum):
    ACTIVE = "active"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"


class RegistryEventType(str, Enum):
    AGENT_REGISTERED = "agent_registered"
    AGENT_DEREGISTERED = "agent_deregistered"
    AGENT_STATUS_CHANGED = "agent_status_changed"
    AGENT_HEARTBEAT = "agent_heartbeat"
    RUNTIME_JOINED = "runtime_joined"
    RUNTIME_LEFT = "runtime_left"


@dataclass
class RegistryEvent:
    event_type: RegistryEventType
    agent_id: str | None = None
    runtime_id: str | None = None
    timestamp: datetime = field(default_factory=datetime.now)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentRegistryConfig:
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
class AgentMetadata:
    agent_id: str
    agent: Any
    a2a_card: Any = None
    max_concurrency: int = 10
    memory_limit_mb: int = 512
    budget_limit_usd: float = 1.0
    status: AgentStatus = AgentStatus.ACTIVE
    last_heartbeat: datetime = field(default_factory=datetime.now)
    active_tasks: int = 0
    completed_tasks: int = 0
    failed_tasks: int = 0
    budget_spent_usd: float = 0.0
    total_execution_time: float = 0.0
    avg_execution_time: float = 0.0
    error_count: int = 0
    request_count: int = 0


def _caps(card: Any) -> list[str]:
    if not isinstance(card, dict):
        return []
    out: list[str] = []
    if "capability" in card:
        out.append(card["capability"])
    caps = card.get("capabilities")
    if isinstance(caps, list):
        out.extend(caps)
    elif isinstance(caps, str):
        out.append(caps)
    return out


def _score(query: str, cap: str) -> float:
    q, c = set(query.lower().split()), set(cap.lower().split())
    if not q or not c:
        return 0.0
    return len(q & c) / len(q | c)


class AgentRegistry:
    """kaizen's registry semantics in memory (see the module docstring)."""

    def __init__(self, config: AgentRegistryConfig | None = None) -> None:
        self.config = config or AgentRegistryConfig()
        self.agents: dict[str, AgentMetadata] = {}
        self.runtime_agents: defaultdict[str, set[str]] = defaultdict(set)
        self.capability_index: defaultdict[str, set[str]] = defaultdict(set)
        self.status_index: defaultdict[AgentStatus, set[str]] = defaultdict(set)
        self.event_listeners: defaultdict[RegistryEventType, list[Callable[..., Any]]] = \
            defaultdict(list)
        self.event_queue: asyncio.Queue[RegistryEvent] = asyncio.Queue(
            maxsize=self.config.event_queue_size)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._running = False

    async def start(self) -> None:
        self._running = True
        if self.config.enable_event_broadcasting:
            self._task = asyncio.create_task(self._broadcast())

    async def shutdown(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.agents.clear()

    async def _emit(self, ev: RegistryEvent) -> None:
        if self.config.enable_event_broadcasting:
            await self.event_queue.put(ev)

    async def _broadcast(self) -> None:
        while self._running:
            try:
                ev = await asyncio.wait_for(self.event_queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            for cb in self.event_listeners.get(ev.event_type, []):
                with contextlib.suppress(Exception):
                    res = cb(ev)
                    if asyncio.iscoroutine(res):
                        await res

    def subscribe(self, event_type: RegistryEventType, callback: Callable[..., Any]) -> None:
        self.event_listeners[event_type].append(callback)

    async def register_agent(self, agent: Any, runtime_id: str, agent_id: str | None = None,
                             max_concurrency: int = 10, memory_limit_mb: int = 512,
                             budget_limit_usd: float = 1.0) -> str:
        async with self._lock:
            if agent_id is None:
                agent_id = agent.agent_id or f"agent_{uuid.uuid4().hex[:8]}"
            if agent_id in self.agents:
                raise ValueError(f"Agent with ID '{agent_id}' is already registered")
            card = getattr(agent, "_a2a_card", None)
            m = AgentMetadata(agent_id=agent_id, agent=agent, a2a_card=card,
                              max_concurrency=max_concurrency, memory_limit_mb=memory_limit_mb,
                              budget_limit_usd=budget_limit_usd, status=AgentStatus.ACTIVE,
                              last_heartbeat=datetime.now())
            self.agents[agent_id] = m
            first = len(self.runtime_agents[runtime_id]) == 0
            self.runtime_agents[runtime_id].add(agent_id)
            self.status_index[m.status].add(agent_id)
            if card:
                for c in _caps(card):
                    self.capability_index[c.lower()].add(agent_id)
            if first:
                await self._emit(RegistryEvent(RegistryEventType.RUNTIME_JOINED,
                                               runtime_id=runtime_id))
            await self._emit(RegistryEvent(RegistryEventType.AGENT_REGISTERED, agent_id,
                                           runtime_id, metadata={"capabilities": _caps(card)}))
            return agent_id

    async def get_agent(self, agent_id: str) -> AgentMetadata | None:
        return self.agents.get(agent_id)  # kaizen's: a dict lookup (no lock)

    async def update_agent_status(self, agent_id: str, status: AgentStatus,
                                  runtime_id: str | None = None) -> bool:
        async with self._lock:
            m = self.agents.get(agent_id)
            if m is None:
                return False
            old, m.status = m.status, status
            self.status_index[old].discard(agent_id)
            self.status_index[status].add(agent_id)
            await self._emit(RegistryEvent(RegistryEventType.AGENT_STATUS_CHANGED, agent_id,
                                           runtime_id, metadata={"old_status": old.value,
                                                                 "new_status": status.value}))
            return True

    async def find_agents_by_capability(
            self, capability: str, status_filter: AgentStatus | None = AgentStatus.ACTIVE
    ) -> list[AgentMetadata]:
        hits: list[tuple[AgentMetadata, float]] = []
        for m in self.agents.values():
            if status_filter and m.status != status_filter:
                continue
            if m.a2a_card:
                for c in _caps(m.a2a_card):
                    if capability.lower() in c.lower():
                        hits.append((m, _score(capability, c)))
                        break
        hits.sort(key=lambda x: x[1], reverse=True)
        return [m for m, _ in hits]
