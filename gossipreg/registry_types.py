"""The kaizen-facing values of ``AgentRegistry``: its config, event and metadata classes, the
never-blocking event queue and the capability extraction rules.

Rules: names, fields and defaults are kaizen's (``kaizen.orchestration.AgentRegistry``, 2.2.1),
so code that builds or reads them runs unchanged; what goes beyond kaizen is marked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from gossipreg.core.directory.cards import CardInfo, card_of, card_to_dict, parse_card
from gossipreg.core.directory.quick import quick_record
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentRecord, AgentStatus, AgentView, Endpoint, RegistryEventType
from gossipreg.core.types import RegistryEvent as CoreEvent

__all__ = ["AgentMetadata", "AgentRegistryConfig", "DroppingQueue", "RegistryEvent",
           "agent_record", "extract_capabilities", "metadata_of", "usual_record"]

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
    """An ``asyncio.Queue`` that never blocks a producer: when full, the oldest item goes.
    ``before_read`` runs before each look at its content (``qsize``, ``empty``, ``get_nowait``,
    hence ``get``; not ``full``, which ``put_nowait`` asks): the registry applies the
    registrations it kept pending there, so their events are in the queue when anyone looks."""

    def __init__(self, maxsize: int, before_read: Callable[[], None] | None = None) -> None:
        super().__init__(maxsize)
        self.dropped = 0
        self._before_read = before_read

    def _read(self) -> None:
        if self._before_read is not None:
            self._before_read()

    def qsize(self) -> int:
        self._read()
        return super().qsize()

    def empty(self) -> bool:
        self._read()
        return super().empty()

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._queue)  # type: ignore[attr-defined]

    def get_nowait(self) -> RegistryEvent:
        self._read()
        return super().get_nowait()

    def put_nowait(self, item: RegistryEvent) -> None:
        if self.full():  # full: nobody waits to get (a getter waits on an empty queue), and
            self._get()  # the oldest, never to be gotten, is not counted by join() any
            self._put(item)  # more: the newest takes its place
            self.dropped += 1
            return
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
        return list(capabilities_of(SimpleNamespace(capabilities=list(explicit)), None))
    card = agent_card(agent)
    return list(capabilities_of(agent, parse_card(card) if card is not None else None))


_CARD_ATTRS = ("_a2a_card", "a2a_card", "agent_card")


def _is_mock(obj: object) -> bool:
    # An attribute a unittest.mock object made up on access: kaizen ignores such a card (it
    # reads `_a2a_card` only when it is a dict), and so do we.
    return type(obj).__module__ == "unittest.mock"


def chosen_card(agent: object, explicit: object = None) -> object:
    """The card of an agent object, as found: ``explicit`` when given, else the first of
    ``_a2a_card``, ``a2a_card``, ``agent_card`` that is set."""
    if explicit is not None:
        return explicit
    for n in _CARD_ATTRS:
        c = getattr(agent, n, None)
        if c is not None and not _is_mock(c):
            return c
    return None


def agent_card(agent: object) -> dict[str, Any] | None:
    """The card of an agent object as a JSON-safe dict (values that are not JSON, such as
    enums, become strings); unknown kinds raise."""
    d = card_to_dict(chosen_card(agent))
    if d is None:
        return None
    out: dict[str, Any] = json.loads(json.dumps(d, default=str))
    return out


def capabilities_of(agent: object, info: CardInfo | None) -> Sequence[str]:
    """Capabilities of an agent object without explicit ones: from its card's facts (kaizen's
    ``capability``/``capabilities``, or an A2A card's skills), else its ``capabilities``
    attribute (a string or a list). Non-string capabilities raise."""
    if info is not None and (info.capabilities or info.kind == "kaizen"):
        return info.capabilities  # strings, without duplicates (parse_card): the record's
    attr = getattr(agent, "capabilities", None)
    caps: list[Any] = ([attr] if isinstance(attr, str)
                       else list(attr) if isinstance(attr, list | tuple) else [])
    for c in caps:
        if not isinstance(c, str):
            raise InvalidArgumentError(
                f"capability must be a string, not {type(c).__name__}: {c!r}")
    return list(dict.fromkeys(caps))


def usual_record(agent: Any, agent_id: str, runtime_id: str, max_concurrency: int,
                 memory_limit_mb: int, budget_limit_usd: float,
                 registered_at: float) -> AgentRecord | None:
    """:func:`agent_record` of the usual kaizen call (no explicit capabilities, tags or card;
    the agent's card a plain dict: :mod:`~gossipreg.core.directory.quick`), or None when the
    general path must decide."""
    found = getattr(agent, "_a2a_card", None)
    if type(found) is not dict:  # (an exact dict is never a mock's made-up attribute)
        found = chosen_card(agent) if found is None else None
        if type(found) is not dict:
            return None
    return quick_record(
        found, agent_id, getattr(agent, "name", None) or getattr(agent, "agent_name", None),
        getattr(agent, "description", None), runtime_id, max_concurrency, memory_limit_mb,
        budget_limit_usd, registered_at)


def agent_record(agent: Any, agent_id: str, runtime_id: str, *,
                 capabilities: Sequence[str] | None, tags: Sequence[str], card: Any,
                 max_concurrency: int, memory_limit_mb: int, budget_limit_usd: float,
                 registered_at: float, tried_usual: bool = False) -> AgentRecord:
    """The validated record of a kaizen agent object, its card converted once: ``card``
    (any accepted form) overrides the card found on ``agent``; capabilities, name and
    description not given come from the agent, then its card. ``tried_usual``: the caller
    already asked :func:`usual_record` (it answered None), so it is not asked again."""
    if not tried_usual and card is None and capabilities is None and tags == ():
        quick = usual_record(agent, agent_id, runtime_id, max_concurrency, memory_limit_mb,
                             budget_limit_usd, registered_at)
        if quick is not None:
            return quick
    d = card_to_dict(chosen_card(agent, card))
    c = card_of(d)
    caps = (extract_capabilities(agent, capabilities) if capabilities is not None
            else capabilities_of(agent, c.info if c is not None else None))
    name = getattr(agent, "name", None) or getattr(agent, "agent_name", None) or (
        c.info.name if c is not None and d is not None and d.get("name") else None) or agent_id
    description = getattr(agent, "description", None) or ""
    return make_record(
        agent_id, str(name)[:255], runtime_id, caps, description=str(description)[:8192],
        tags=tags, card=c, max_concurrency=max_concurrency, memory_limit_mb=memory_limit_mb,
        budget_limit_usd=budget_limit_usd, registered_at=registered_at)


def metadata_of(v: AgentView, local: Any, old: AgentMetadata | None,
                explicit_card: bool = False) -> AgentMetadata:
    """What queries return for the visible agent ``v``: ``local`` is the object registered
    on this node (elsewhere a plain description stands in), ``old`` the previous metadata of
    the agent, whose task bookkeeping carries over. A local agent's card is its own dict, as
    kaizen returns it (unless the registration gave another: ``explicit_card``)."""
    r, node_id, status, last_heartbeat, count = v
    card = None
    if r.card_json is not None:
        own = chosen_card(local) if local is not None and not explicit_card else None
        card = own if type(own) is dict else r.card
    m = AgentMetadata(
        r.agent_id,
        local if local is not None else SimpleNamespace(
            agent_id=r.agent_id, name=r.name, description=r.description,
            capabilities=list(r.capabilities), runtime_id=r.runtime_id, node_id=node_id,
            endpoints=list(r.endpoints)),
        r.runtime_id, node_id, r.name, list(r.capabilities), r.description, list(r.tags),
        card, status, datetime.fromtimestamp(last_heartbeat, UTC),
        datetime.fromtimestamp(r.registered_at, UTC), count, r.max_concurrency,
        r.memory_limit_mb, r.budget_limit_usd, endpoints=list(r.endpoints))
    if old is not None:
        for k in _BOOKKEEPING:
            setattr(m, k, getattr(old, k))
    return m
