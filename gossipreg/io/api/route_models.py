"""The request bodies of ``POST /v1/select``, ``POST /v1/send`` and ``PUT
/v1/agents/{id}/load``, as pydantic models (unknown fields refused).

The models check shapes and JSON types; the value rules (a known strategy, a deadline above 0,
a message that is an A2A Message under the size limit, ...) are the ones the Python API
applies (``core.route.select``, ``io.route``), so a mistake reads the same on every surface.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gossipreg.core.errors import InvalidArgumentError

__all__ = ["LoadBody", "SelectBody", "SendBody", "parse_body"]

M = TypeVar("M", bound=BaseModel)


class SelectBody(BaseModel):
    """What to select: exactly one of ``text``, ``capability``, ``agent_ids``."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    text: str | None = None
    capability: str | None = None
    agent_ids: list[str] | None = None
    strategy: str = "best"
    k: int = 3
    filters: dict[str, str | list[str]] | None = None
    status: str | list[str] | None = None
    verified_only: bool = False


class SendBody(SelectBody):
    """A selection plus the message and how hard to try."""

    message: str | dict[str, Any]
    deadline: float | int = 30.0
    attempts: int = 3
    idempotent: bool = False
    stream: bool = False


class LoadBody(BaseModel):
    """An owner's load report for one of its agents."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    active_tasks: int
    max_concurrency: int


def parse_body(model: type[M], body: object) -> M:
    """``body`` as ``model``; raises InvalidArgumentError naming each bad field."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        parts = []
        for err in e.errors()[:5]:
            loc = ".".join(str(x) for x in err["loc"]) or "body"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            parts.append(f"{loc}: {msg}")
        raise InvalidArgumentError("; ".join(parts)) from None
