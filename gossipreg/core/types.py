"""Plain value types shared by every layer: statuses, event kinds and causes, member states,
records.

Rules: values only, immutable once made; enum values are wire and API names and never change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, NamedTuple

from gossipreg.core.errors import InvalidArgumentError

__all__ = [
    "AgentLoad",
    "AgentRecord",
    "AgentStatus",
    "AgentView",
    "Cause",
    "Endpoint",
    "MemberInfo",
    "MemberState",
    "Provider",
    "RegistryEvent",
    "RegistryEventType",
    "Skill",
    "check_id",
    "event_type_of",
    "status_of",
]

ID_MAX_LEN = 255


def check_id(value: object, what: str = "agent_id") -> str:
    """A non-empty identifier of at most 255 characters without control characters."""
    if type(value) is str and 0 < len(value) <= ID_MAX_LEN and value.isprintable():
        return value
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, not {type(value).__name__}")
    if not 0 < len(value) <= ID_MAX_LEN:
        raise InvalidArgumentError(f"{what} must have 1..{ID_MAX_LEN} characters")
    raise InvalidArgumentError(f"{what} must not contain control or non-printable characters")



class Skill(NamedTuple):
    """One A2A skill: every text field of it is searchable; its tags are the agent's tags."""

    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    examples: tuple[str, ...]


class Endpoint(NamedTuple):
    """Where and how to reach the agent: URL, protocol binding (JSONRPC, GRPC, HTTP+JSON) and
    protocol version."""

    url: str
    binding: str
    version: str


class AgentLoad(NamedTuple):
    """An agent's load as its owner published it (``load/<id>``): kaizen's ``active_tasks``
    out of ``max_concurrency``."""

    active_tasks: int
    max_concurrency: int

    @property
    def ratio(self) -> float:
        """``active_tasks / max_concurrency`` (1.0 and above: full)."""
        return self.active_tasks / self.max_concurrency

    @property
    def full(self) -> bool:
        return self.active_tasks >= self.max_concurrency


class Provider(NamedTuple):
    organization: str
    url: str


class AgentStatus(str, Enum):
    """Status of an agent, as in kaizen."""

    ACTIVE = "active"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"


def status_of(value: object, what: str = "status") -> AgentStatus:
    """``value`` as an :class:`AgentStatus`: the member itself or its string value
    (``"degraded"``); anything else raises InvalidArgumentError naming the valid values."""
    if isinstance(value, AgentStatus):
        return value
    if isinstance(value, str):
        try:
            return AgentStatus(value.lower())
        except ValueError:
            pass
    raise InvalidArgumentError(
        f"unknown {what} {value!r}: use one of {[s.value for s in AgentStatus]}")


class RegistryEventType(str, Enum):
    """Kinds of events. The first six are kaizen's; the ``MEMBER_*`` ones are node-level."""

    AGENT_REGISTERED = "agent_registered"
    AGENT_DEREGISTERED = "agent_deregistered"
    AGENT_STATUS_CHANGED = "agent_status_changed"
    AGENT_HEARTBEAT = "agent_heartbeat"
    RUNTIME_JOINED = "runtime_joined"
    RUNTIME_LEFT = "runtime_left"
    MEMBER_JOINED = "member_joined"
    MEMBER_SUSPECT = "member_suspect"
    MEMBER_ALIVE = "member_alive"
    MEMBER_FAILED = "member_failed"
    MEMBER_LEFT = "member_left"
    # A stream could not resume where its consumer asked (unknown position, another stream,
    # or events dropped): the consumer must list again.
    STREAM_RESET = "reset"


def event_type_of(value: object) -> RegistryEventType:
    """``value`` as a :class:`RegistryEventType`: the member or its string value
    (``"agent_registered"``); anything else raises InvalidArgumentError naming the valid ones."""
    if isinstance(value, RegistryEventType):
        return value
    if isinstance(value, str):
        try:
            return RegistryEventType(value.lower())
        except ValueError:
            pass
    raise InvalidArgumentError(
        f"unknown event type {value!r}: use one of {[t.value for t in RegistryEventType]}")


class Cause(str, Enum):
    """Why an agent was deregistered or changed status (``metadata["cause"]``). One table:

    ``deregistered`` the owner's call; ``heartbeat_expired`` the owner's judge removed it after
    ``auto_deregister_timeout`` without heartbeats; ``owner_failed`` its owner is DEAD (status
    OFFLINE, then gone past ``auto_deregister_timeout``); ``owner_left`` its owner left;
    ``owner_restarted`` its owner came back with a new generation; ``moved`` another record
    under the same id (another runtime) took its place; ``status_write`` a status written by
    a caller (their words in ``metadata["reason"]``); ``heartbeat_missed`` the owner's judge
    saw no heartbeat for ``heartbeat_timeout``; ``heartbeat_resumed`` the judge withdrew that
    verdict; ``owner_recovered`` its DEAD owner is alive again; ``check_failed`` /
    ``check_passed`` the owner's health check of a sidecar-registered agent failed / passed
    again (callers cannot write these two as their reason).
    """

    DEREGISTERED = "deregistered"
    HEARTBEAT_EXPIRED = "heartbeat_expired"
    OWNER_FAILED = "owner_failed"
    OWNER_LEFT = "owner_left"
    OWNER_RESTARTED = "owner_restarted"
    MOVED = "moved"
    STATUS_WRITE = "status_write"
    HEARTBEAT_MISSED = "heartbeat_missed"
    HEARTBEAT_RESUMED = "heartbeat_resumed"
    OWNER_RECOVERED = "owner_recovered"
    CHECK_FAILED = "check_failed"
    CHECK_PASSED = "check_passed"


class MemberState(IntEnum):
    """SWIM member state. The order is the precedence at equal incarnation."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3

    @property
    def running(self) -> bool:
        """ALIVE or SUSPECT: believed to be running."""
        return self <= MemberState.SUSPECT


class RegistryEvent(NamedTuple):
    """Something a node observed. ``timestamp`` is wall-clock seconds (Unix epoch).

    For agent events ``agent_id`` and ``runtime_id`` are set; for member events ``agent_id`` is
    ``None`` and ``metadata["node_id"]`` names the member. A named tuple: immutable like a
    frozen dataclass, and a third of the cost to make (a node makes one per change it applies,
    ten million when a 1,000-node simulation starts). ``seq`` is the event's position in its
    node's stream (1, 2, ...; 0 until the node numbered it).
    """

    event_type: RegistryEventType
    agent_id: str | None
    runtime_id: str | None
    timestamp: float
    metadata: dict[str, Any]
    seq: int = 0


class AgentRecord(NamedTuple):
    """The replicated description of an agent, written only by the node that hosts it.

    ``card_json`` is the agent card (A2A, or kaizen's ``_a2a_card``) as compact JSON text, kept
    verbatim; ``card`` parses it. ``skills``, ``endpoints``, ``provider`` and ``version`` are
    derived from the card by every node (they do not travel separately). ``registered_at`` is
    wall-clock seconds.

    Immutable; a named tuple because every registration makes one (a 16-field frozen
    dataclass took 16 ``object.__setattr__`` calls, 7x a tuple's cost): copy with changes by
    ``_replace``. It travels only as :func:`~gossipreg.core.directory.records.record_to_value`
    makes it, never as the tuple it is.
    """

    agent_id: str
    name: str
    runtime_id: str
    capabilities: tuple[str, ...]
    description: str = ""
    tags: tuple[str, ...] = ()
    card_json: str | None = None
    max_concurrency: int = 10
    memory_limit_mb: int = 512
    budget_limit_usd: float = 1.0
    registered_at: float = 0.0
    skills: tuple[Skill, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    provider: Provider | None = None
    version: str = ""
    # Whether the card's A2A signatures verify against this node's publisher keys: "true",
    # "false" (signed, but not by a key this node trusts, or altered) or "unsigned". Derived
    # by each node from its own keys (two nodes may disagree); it does not travel.
    card_verified: str = "unsigned"

    @property
    def card(self) -> dict[str, Any] | None:
        """The card as registered (a fresh dict per call), or None."""
        if self.card_json is None:
            return None
        out: dict[str, Any] = json.loads(self.card_json)
        return out


class AgentView(NamedTuple):
    """An agent as one node sees it: the record plus derived, node-local facts.

    ``last_heartbeat`` is the wall-clock time of the latest heartbeat (or of registration);
    ``heartbeat_count`` counts heartbeats since registration. Immutable; a named tuple because
    every node makes one per change it applies to an agent (a third of a frozen dataclass's
    cost).
    """

    record: AgentRecord
    node_id: str
    status: AgentStatus
    last_heartbeat: float
    heartbeat_count: int

    @property
    def agent_id(self) -> str:
        return self.record.agent_id

    @property
    def runtime_id(self) -> str:
        return self.record.runtime_id


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """One row of the member table, as exposed to callers."""

    node_id: str
    address: str
    state: MemberState
    incarnation: int
    generation: int
    features: int = 0  # feature bits its running generation announced (wire.Feature)
