"""The registry's event_queue never blocks a producer: when full, the oldest event goes (counted),
and join() still returns once every event that can still be gotten is done."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from gossipreg.registry_types import DroppingQueue, RegistryEvent


async def test_a_full_queue_drops_its_oldest_and_join_still_returns() -> None:
    q = DroppingQueue(3)
    for i in range(10):
        q.put_nowait(cast(RegistryEvent, i))
    assert q.dropped == 7 and q.qsize() == 3
    got: list[Any] = [q.get_nowait() for _ in range(3)]
    assert got == [7, 8, 9]
    for _ in got:
        q.task_done()
    await asyncio.wait_for(q.join(), 1.0)
