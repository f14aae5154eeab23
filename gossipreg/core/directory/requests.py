"""The answers to requests a node forwards to an agent's owner (deregister, heartbeat)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pending", "Result"]


@dataclass(frozen=True, slots=True)
class Pending:
    """A request forwarded to another node; its :class:`Result` arrives via ``poll_result``."""

    req_id: int


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a forwarded request."""

    req_id: int
    ok: bool
    detail: str
