"""The answers the HTTP API documents, as pydantic models: the OpenAPI document's only
(:mod:`gossipreg.io.api.openapi`, imported at the first request for it), so a node that is never
asked for the document holds none of them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AgentOut", "AgentsBatchOut", "ArdErrorOut", "BatchItemOut", "DeregisteredOut",
           "ErrorOut", "ForgottenOut", "HealthOut", "MemberOut", "OkOut", "RotatedOut",
           "TicketOut"]


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True)


class ErrorOut(_Out):
    """Every error answer of the node's own routes."""

    error: str
    code: str
    status: int


class ArdErrorOut(_Out):
    """ARD's error envelope."""

    errorCode: str
    message: str


class OkOut(_Out):
    ok: bool


class DeregisteredOut(_Out):
    deregistered: bool


class ForgottenOut(_Out):
    name: str
    forgotten: bool


class RotatedOut(_Out):
    public_key: str = Field(description="the new Ed25519 public key, hex")


class TicketOut(_Out):
    ticket: str
    expires_in: float


class AgentOut(_Out):
    """An agent as the answering node sees it (its card fields included)."""

    agent_id: str
    name: str
    runtime_id: str
    node_id: str
    capabilities: list[str]
    description: str
    tags: list[str]
    status: Literal["active", "degraded", "unhealthy", "offline"]
    last_heartbeat: str
    last_heartbeat_unix: float
    heartbeat_count: int
    registered_at: str
    card: dict[str, Any] | None
    endpoints: list[dict[str, Any]]
    skills: list[dict[str, Any]]
    provider: dict[str, Any] | None
    version: str
    card_verified: Literal["true", "false", "unsigned"] = Field(
        "unsigned", description="whether the card's A2A signatures verify with this node's "
                                "publisher keys")
    load: dict[str, int] | None = Field(
        None, description="active_tasks and max_concurrency as the owner published them")
    heartbeat: dict[str, Any] | None = Field(
        None, description="how this agent must stay alive (in the 201 answer only)")


class BatchItemOut(_Out):
    """One item of a batch, in the order sent: ``status`` 201 with the agent, or the error
    envelope's ``status``, ``code`` and ``error``."""

    status: int
    agent_id: str | None = None
    agent: AgentOut | None = None
    error: str | None = None
    code: str | None = None


class AgentsBatchOut(_Out):
    """``POST /v1/agents:batch``'s answer: how many were registered and refused, and each
    item's answer."""

    registered: int
    refused: int
    results: list[BatchItemOut]


class MemberOut(_Out):
    node_id: str
    address: str
    state: Literal["alive", "suspect", "dead", "left"]
    incarnation: int
    generation: int


class HealthOut(_Out):
    """Health in one word. Without the token (on a node that has one) only ``status``,
    ``ready`` and ``version``; the rest with it."""

    status: Literal["joining", "ok", "isolated", "leaving", "refused"]
    ready: bool
    version: str
    node_id: str | None = None
    address: str | None = None
    members_alive: int | None = None
    agents: int | None = None
    health_score: int | None = None
    reason: str | None = None
    search: dict[str, Any] | None = Field(
        None, description="how searches are ranked: hybrid (and its model) or lexical, why")
