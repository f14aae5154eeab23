"""``Outcome``: the awaitable result of a mesh-changing call that acts at once.

Calls that were synchronous (``set_status``) act when called and return an :class:`Outcome`
(docs/design/shapes.md §5): ``await`` it for the final answer (True once applied, by the
agent's owner when the call was forwarded there; False when refused or timed out). Used as a
plain bool, as the synchronous call was, it is the immediate answer (True when it was applied
here or sent to the owner), with a ``DeprecationWarning``: that use goes in a later release.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Generator
from typing import Any

__all__ = ["Outcome"]


class Outcome:
    """See the module docstring. ``pending`` is the owner's answer still to come, if any."""

    __slots__ = ("now", "pending")

    def __init__(self, now: bool, pending: asyncio.Future[bool] | None = None) -> None:
        self.now = now
        self.pending = pending

    def __await__(self) -> Generator[Any, None, bool]:
        if self.pending is None:
            return self.now
        return (yield from asyncio.shield(self.pending).__await__())

    def __bool__(self) -> bool:
        warnings.warn("set_status() returns an awaitable Outcome: await it for the owner's "
                      "answer (using it as a bool is deprecated)", DeprecationWarning,
                      stacklevel=2)
        return self.now

    def __repr__(self) -> str:
        state = "applied" if self.pending is None else (
            "pending" if not self.pending.done() else f"answered {self.pending.result()}")
        return f"Outcome({self.now}, {state})"
