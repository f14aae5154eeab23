"""What every node of one system sees, polled from the hub, and waits on it.

A :class:`Watch` asks every running node of one system for its member list (each node in its
own loop, every ``period`` seconds at most); a view counts for a condition only once it was
fetched after the fault it is about. While a guard is set, any running node that reports a
guarded member failed is recorded as a false failure (observer, subject): the guard holds the
members that are alive and not cut off, so nothing legitimate is ever counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

from sim.mesh.hosts import HostDriver

__all__ = ["Watch"]

View = dict[str, str]


class Watch:
    """Polls one system's nodes; see the module docstring."""

    def __init__(self, driver: HostDriver, period: float = 0.2) -> None:
        self.d = driver
        self.period = period
        self.running: set[int] = set()  # hosts whose process should answer
        self.views: dict[int, tuple[float, View]] = {}
        self.guard: set[int] = set()
        self.false: set[tuple[int, int]] = set()
        self.rounds = 0
        self._tick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Set by stop: a poll whose cancellation a driver's call swallowed still ends (a
        # harness once hung here after its last step, cancelling forever).
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self, i: int) -> None:
        """Host ``i``'s own loop: a node that hangs (SIGSTOP) delays nobody else's views."""
        while i in self.running and not self._stopping:
            t0 = time.monotonic()
            with contextlib.suppress(Exception):
                st = await self.d.states(i)
                if i in self.running:
                    self.views[i] = (time.monotonic(), st)
                    self._check_guard(i)
                    self.rounds += 1
                    self._tick.set()
                    self._tick = asyncio.Event()
            await asyncio.sleep(max(0.0, self.period - (time.monotonic() - t0)))

    async def _loop(self) -> None:
        polls: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                for i in self.running:
                    if i not in polls or polls[i].done():
                        polls[i] = asyncio.get_running_loop().create_task(self._poll(i))
                await asyncio.sleep(0.05)
        finally:
            for t in polls.values():
                t.cancel()
            await asyncio.gather(*polls.values(), return_exceptions=True)

    def _check_guard(self, i: int) -> None:
        _, st = self.views[i]
        for j in self.guard:
            if j != i and st.get(self.d.node_name(j)) == "failed":
                self.false.add((i, j))

    def fresh(self, i: int, since: float) -> View | None:
        """Host ``i``'s view if fetched after ``since``."""
        t, st = self.views.get(i, (0.0, {}))
        return st if t >= since else None

    def all_see(self, observers: Iterable[int], subjects: Iterable[int], state: str,
                since: float) -> bool:
        """Every observer's fresh view shows every subject (but itself) in ``state``."""
        subj = list(subjects)
        for i in observers:
            st = self.fresh(i, since)
            if st is None or any(j != i and st.get(self.d.node_name(j)) != state
                                 for j in subj):
                return False
        return True

    async def until(self, pred: Callable[[float], bool], since: float, timeout: float
                    ) -> float | None:
        """Seconds from ``since`` until ``pred(since)`` holds after a view update; None when
        ``timeout`` seconds passed first."""
        while (left := timeout - (time.monotonic() - since)) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), left)
            if pred(since):
                return time.monotonic() - since
        return None
