"""The registry's event_queue never blocks a producer: when full, the oldest event goes (counted),
and join() still returns once every event that can still be gotten is done."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from gossipreg import AgentRegistry, AgentRegistryConfig, RegistryEventType
from gossipreg.registry_types import DroppingQueue, RegistryEvent
from tests.support import until

E = RegistryEventType


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



async def test_registrations_nobody_takes_make_no_events_and_ids_stay_gapless() -> None:
    """Events off and no listener: a registration makes no AGENT_REGISTERED event (the stream
    numbers nothing); once something takes them (a listener, a subscription) they are made
    again, numbered without gaps; a deregistration's event is always made (the caches)."""
    reg = AgentRegistry(AgentRegistryConfig(enable_event_broadcasting=False,
                                            enable_heartbeat_monitoring=False))
    await reg.start()
    node = reg.node
    try:
        assert not node.takes(E.AGENT_REGISTERED) and node.takes(E.AGENT_DEREGISTERED)
        for i in range(3):
            await reg.register_agent(SimpleNamespace(name=f"a{i}"), "rt", agent_id=f"a{i}")
        assert node.ring.seq == 1  # RUNTIME_JOINED alone
        assert [m.agent_id for m in await reg.list_agents()] == ["a0", "a1", "a2"]
        assert await reg.deregister_agent("a0", "rt")
        assert node.ring.seq == 2 and await reg.get_agent("a0") is None
        got: list[RegistryEvent] = []
        reg.subscribe(E.AGENT_REGISTERED, got.append)  # a listener takes them again
        assert node.takes(E.AGENT_REGISTERED)
        await reg.register_agent(SimpleNamespace(name="b"), "rt", agent_id="b")
        assert node.ring.seq == 3
        assert await until(lambda: len(got) == 1) and got[0].agent_id == "b"
        reg.unsubscribe(E.AGENT_REGISTERED, got.append)
        assert not node.takes(E.AGENT_REGISTERED)
        stream = node.subscribe()  # so does a subscription
        assert node.takes(E.AGENT_REGISTERED)
        assert await reg.register_agents([{"agent": SimpleNamespace(), "agent_id": "c"}],
                                         "rt") == ["c"]
        ev = await asyncio.wait_for(anext(aiter(stream)), 2.0)
        assert (ev.event_type, ev.agent_id, ev.seq) == (E.AGENT_REGISTERED, "c", 4)
        stream.close()
    finally:
        await reg.shutdown()
