"""Requests this node forwarded to an agent's owner, and their answers.

Rules: each request gets a new id and a deadline of ``request_timeout``; an answer that arrives
for a request still open completes it once; a request still open at its deadline completes as
a timeout. A completed request leaves a :class:`Result` for the node's ``poll_result``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["Pending", "Requests", "Result"]


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


class Requests:
    """The open requests (id -> deadline) and the results not yet polled."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.results: deque[Result] = deque()
        self._open: dict[int, float] = {}
        self._last = 0

    def open(self, now: float) -> Pending:
        """A new request, due by ``now + timeout``."""
        self._last += 1
        self._open[self._last] = now + self.timeout
        return Pending(self._last)

    def answered(self, req_id: int, ok: bool, detail: str) -> None:
        """The owner's answer: completes the request if it is still open."""
        if self._open.pop(req_id, None) is not None:
            self.results.append(Result(req_id, ok, detail))

    def next_deadline(self) -> float | None:
        return min(self._open.values()) if self._open else None

    def expire(self, now: float) -> None:
        """Requests whose deadline passed complete as timeouts."""
        for req_id, deadline in list(self._open.items()):
            if deadline <= now:
                del self._open[req_id]
                self.results.append(Result(req_id, False, "timeout"))
