"""Bounded waits for the real-network tests (one helper, shared by every test module).

A wait polls a predicate until it holds or ``timeout`` seconds pass and then reports the
predicate's last answer; the tests assert on that answer, never on how long the wait took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.02


async def until(pred: Callable[[], bool], timeout: float = 8.0) -> bool:
    """Await ``pred()`` becoming true within ``timeout`` seconds (polled on the event loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(POLL_S)
    return bool(pred())


def until_blocking(pred: Callable[[], bool], timeout: float = 8.0,
                   errors: tuple[type[BaseException], ...] = (OSError,)) -> bool:
    """``until`` for tests without a loop (driving other processes); ``errors`` raised by the
    predicate count as "not yet" (a process still starting refuses connections)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return True
        except errors:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
