"""Every request body and parameter set of the HTTP API, and the answers it documents, as
pydantic models (with :mod:`gossipreg.io.api.ard_models` and :mod:`gossipreg.io.api.answers`):
the one definition that validation (:mod:`gossipreg.io.api.params`) and the OpenAPI document
(:mod:`gossipreg.io.api.openapi`) are derived from.

Rules:
- bodies are strict (JSON types as they are: ``"5"`` is not a number) and parameter sets lax
  (query values are text); both refuse unknown fields and parameters;
- a field whose refusal needs other words than the generic ones (``<field> must be a string,
  not int``, the core's) carries them as a :class:`Says` marker;
- what only the core can judge (an agent id's characters, a card's shape, a filter's paths) is
  typed here and judged there, so Python, CLI and HTTP read the core's message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gossipreg.core.types import AgentStatus, MemberState, RegistryEventType

__all__ = ["BATCH_BODY_LIMIT", "BATCH_MAX_AGENTS", "BATCH_PATH", "STATUS_CHOICES", "AgentIn",
           "AgentsParams", "CheckIn", "EventsParams", "MembersParams",
           "NoParams", "Says", "StatusIn", "check_event_types", "check_member_states",
           "check_status"]

STATUS_CHOICES = tuple(s.value for s in AgentStatus)
STATE_CHOICES = tuple(s.name.lower() for s in MemberState)
EVENT_CHOICES = tuple(t.value for t in RegistryEventType if t is not RegistryEventType.STREAM_RESET)
MAX_INDEX = 2**63 - 1
SECONDS = "a number of seconds in (0, 86400]"


class Says:
    """The words a field's refusal reads, whatever pydantic found wrong with it."""

    def __init__(self, message: str) -> None:
        self.message = message


def check_status(value: object, any_ok: bool = False) -> object:
    """An agent status name (``any`` too when ``any_ok``): the one message for a bad one."""
    if isinstance(value, str) and (value in STATUS_CHOICES or (any_ok and value == "any")):
        return value
    choices = ", ".join(STATUS_CHOICES) + (" or any" if any_ok else "")
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise ValueError(f"unknown status {shown}: use one of {choices}")


def check_member_states(text: str) -> str:
    """``alive,suspect`` (comma-separated member states) or ``any``."""
    bad = [s for s in text.split(",") if s and s not in (*STATE_CHOICES, "any")]
    if bad or not text.strip(","):
        raise ValueError(f"unknown member state {(bad or [text])[0]!r}: use any of "
                         f"{', '.join(STATE_CHOICES)} (comma-separated) or any")
    return text


def check_event_types(text: str) -> str:
    """Comma-separated event types: a bad one is named with the valid ones."""
    bad = [t for t in text.split(",") if t and t not in EVENT_CHOICES]
    if bad:
        raise ValueError(f"unknown event type {bad[0]!r} in types: use any of "
                         f"{', '.join(EVENT_CHOICES)}")
    return text


# Models are built at first use (defer_build): a node validates few kinds of request. ARD's
# bodies (:mod:`gossipreg.io.api.ard_models`), the batch's and the admin routes' (in their
# modules) and the answers, which serve the OpenAPI document only
# (:mod:`gossipreg.io.api.answers`), are apart, imported at the first request that needs them:
# a model class costs memory before it is ever built (~4 KB a small one, more with many fields).
class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", defer_build=True)


class _Params(BaseModel):
    # Python's re for patterns: pydantic's Rust regex engine costs a node ~0.6 MB of code pages
    # for the one pattern parameters have (wait); its "$" is re's "\Z" (see BlockingParams).
    model_config = ConfigDict(extra="forbid", defer_build=True, regex_engine="python-re")


# ------------------------------------------------------------------ bodies
class CheckIn(_Body):
    """How the owner node keeps an agent registered over HTTP alive: ``http`` (with
    ``interval`` and ``timeout``) or ``ttl`` (the agent heartbeats at least that often)."""

    model_config = ConfigDict(strict=True, extra="forbid",
                              json_schema_extra={"description": "http (url, interval, timeout)"
                                                 " or ttl (seconds between heartbeats)"})

    http: Annotated[str | None, Says("check http must be an http:// or https:// URL")] = None
    interval: Annotated[float | None, Field(gt=0, le=86400),
                        Says(f"check interval must be {SECONDS}")] = None
    timeout: Annotated[float | None, Field(gt=0, le=86400),
                       Says(f"check timeout must be {SECONDS}")] = None
    ttl: Annotated[float | None, Field(gt=0, le=86400), Says(f"check ttl must be {SECONDS}")] \
        = None


class AgentIn(_Body):
    """``POST /v1/agents``: an agent owned by the node that receives it. What is left out comes
    from the card (name, description, capabilities) or the node (runtime_id)."""

    agent_id: str
    name: str | None = None
    runtime_id: str | None = None
    capabilities: list[str] | None = None
    description: str | None = None
    tags: list[str] | None = None
    card: dict[str, Any] | None = None
    check: Annotated[CheckIn | None,
                     Says("check must be an object: {http, interval, timeout} or {ttl}")] = None


BATCH_PATH = "/v1/agents:batch"
BATCH_MAX_AGENTS = 1000
BATCH_BODY_LIMIT = 1024 * 1024  # bytes of JSON (the transport's default max_packet_size)


class StatusIn(_Body):
    """``PUT /v1/agents/{id}/status``: the status and the writer's words (``cause``, the old
    name of ``reason``, is still read); the words are cut to 64 characters."""

    status: Literal["active", "degraded", "unhealthy", "offline"]
    reason: str | None = None
    cause: str | None = Field(None, json_schema_extra={"deprecated": True})

    @field_validator("status", mode="before")
    @classmethod
    def _known(cls, v: object) -> object:
        return check_status(v)


# ---------------------------------------------------------- parameter sets
class NoParams(_Params):
    """A route that takes no query parameters."""


_WAIT_SAYS = "wait must be a duration like 30s or 500ms, at most 600s"


class BlockingParams(_Params):
    """``?index=N&wait=30s``: answer once something happened after position N."""

    index: Annotated[int | None, Field(ge=0, le=MAX_INDEX, description=(
        "position (X-Gossipreg-Index of an earlier answer) to wait past")),
        Says(f"index must be an integer from 0 to {MAX_INDEX}")] = None
    wait: Annotated[str | None, Field(pattern=r"^\d+(\.\d+)?(ms|s|m)?$", description=(
        "how long to wait, e.g. 30s (with index; at most 600s)")),
        Says(_WAIT_SAYS)] = None

    @field_validator("wait")
    @classmethod
    def _no_newline(cls, v: str | None) -> str | None:
        if v is not None and v.endswith("\n"):  # re's "$" allows one, the pattern does not
            raise ValueError(_WAIT_SAYS)
        return v


class AgentsParams(BlockingParams):
    """``GET /v1/agents``."""

    capability: str | None = Field(None, description="terms to match")
    status: Literal["active", "degraded", "unhealthy", "offline", "any"] | None = Field(
        None, description="status filter (default any)")
    runtime: str | None = Field(None, description="runtime id")
    tag: list[str] = Field(default_factory=list, description="tag (repeatable: all of them)")
    node: str | None = Field(None, description="owner node id")
    limit: Annotated[int | None, Field(ge=0, description="page size"),
                     Says("limit must be a non-negative integer")] = None
    offset: Annotated[int | None, Field(ge=0, description="agents to skip"),
                      Says("offset must be a non-negative integer")] = None
    verified_only: bool = Field(
        False, description="only agents whose card signature this node verified")

    @field_validator("status", mode="before")
    @classmethod
    def _known(cls, v: object) -> object:
        return check_status(v, any_ok=True)


class MembersParams(BlockingParams):
    """``GET /v1/members``."""

    state: str | None = Field(None, description="member states, comma-separated (alive, "
                                                "suspect, dead, left) or any (default any)")

    @field_validator("state")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        return None if v is None else check_member_states(v)


class EventsParams(_Params):
    """``GET /v1/events``."""

    types: str | None = Field(None, description="comma-separated event types")
    ticket: str | None = Field(None, description="a single-use ticket instead of the token")
    since: str | None = Field(None, description="resume after this event id (as Last-Event-ID)")

    @field_validator("types")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        return None if v is None else check_event_types(v)
