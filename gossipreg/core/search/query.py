"""A query over the visible agents, as one value carried unchanged through every layer.

Rules: a ``Query`` is validated once, when it is made, with the messages every surface (Python,
CLI, HTTP) shows; layers pass it on and never re-spell its fields. ``capability`` terms are
ANDed, each a case-insensitive substring of some capability string (kaizen's semantics for one
term). ``status`` defaults to ACTIVE as in kaizen; ``None`` means any status; a status's string
value (``"degraded"``) is taken as the status. ``tags`` must all
be present. An empty capability list matches every agent that declares a capability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentStatus, status_of

__all__ = ["Query"]


def _strings(value: object, name: str) -> tuple[str, ...]:
    """A string or a list/tuple of strings, as a tuple (a bare string is one term, never its
    characters)."""
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list | tuple):
        raise InvalidArgumentError(
            f"{name} must be a string or a list of strings, not {type(value).__name__}")
    for t in value:
        if not isinstance(t, str):
            raise InvalidArgumentError(f"{name} must be a string, not {type(t).__name__}")
    return tuple(t for t in value if t)


def _count(value: object, name: str) -> None:
    if value is not None and (type(value) is not int or value < 0):
        raise InvalidArgumentError(f"{name} must be a non-negative integer")


@dataclass(frozen=True, slots=True)
class Query:
    """Which agents to return: see the module docstring for the semantics of each field."""

    capability: tuple[str, ...] = ()
    status: AgentStatus | None = AgentStatus.ACTIVE
    runtime_id: str | None = None
    tags: tuple[str, ...] = ()
    node_id: str | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "capability", _strings(self.capability, "capability"))
        object.__setattr__(self, "tags", _strings(self.tags, "tags"))
        if self.status is not None and not isinstance(self.status, AgentStatus):
            if not isinstance(self.status, str):
                raise InvalidArgumentError(
                    f"status must be an AgentStatus or None, not {type(self.status).__name__}")
            object.__setattr__(self, "status", status_of(self.status))  # "degraded" alike
        for name in ("runtime_id", "node_id"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise InvalidArgumentError(f"{name} must be a string, not {type(v).__name__}")
        _count(self.limit, "limit")
        _count(self.offset, "offset")

    @classmethod
    def of(cls, capability: str | Sequence[str] = "", *,
           status: AgentStatus | str | None = AgentStatus.ACTIVE, runtime_id: str | None = None,
           tags: Sequence[str] = (), node_id: str | None = None, limit: int | None = None,
           offset: int = 0) -> Query:
        """The keyword form the Python API takes (a string or a sequence of terms)."""
        return cls(capability, status, runtime_id, tags, node_id,  # type: ignore[arg-type]
                   limit, offset)

    @property
    def is_listing(self) -> bool:
        """Whether this query is a plain listing (no capability, tag or node filter), which an
        API may answer with every visible agent, those without capabilities included."""
        return not self.capability and not self.tags and self.node_id is None
