"""``register_agent`` keeps a registration nobody takes an event of pending (NodeRunner's
``register_soon``): the call still refuses what it refused before, and the pending ones are
applied, in call order, before any use of the node and at the next turn of the loop at the
latest; none is lost to a shutdown or to another one's refusal."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import aiohttp
import pytest

from gossipreg import AgentRegistry, AgentRegistryConfig, NodeConfig, RegistryEventType
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import AgentExistsError, InvalidArgumentError
from gossipreg.io.net.transport import MemoryNetwork
from tests.support import until

E = RegistryEventType
QUIET = AgentRegistryConfig(enable_event_broadcasting=False, enable_heartbeat_monitoring=False)


def agent(name: str, *caps: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, description=f"{name} agent", capabilities=list(caps))


async def started(config: AgentRegistryConfig = QUIET) -> AgentRegistry:
    reg = AgentRegistry(config)
    await reg.start()
    return reg


async def test_the_call_refuses_duplicates_pending_or_applied_and_bad_input() -> None:
    reg = await started()
    try:
        await reg.register_agent(agent("A", "x"), "rt", agent_id="a")
        assert reg.node._pending  # kept, not applied yet
        with pytest.raises(AgentExistsError, match="already registered"):  # against pending
            await reg.register_agent(agent("A2", "y"), "rt", agent_id="a")
        with pytest.raises(InvalidArgumentError):  # validation still raises from the call
            await reg.register_agent(agent("B", 3), "rt", agent_id="b")  # type: ignore[arg-type]
        assert await reg.get_agent("a") is not None and not reg.node._pending
        with pytest.raises(AgentExistsError, match="already registered"):  # against the node
            await reg.register_agent(agent("A3", "z"), "rt", agent_id="a")
        assert await reg.get_agent("b") is None
        assert reg.total_registrations == 1
    finally:
        await reg.shutdown()


async def test_every_read_sees_pending_registrations_in_call_order() -> None:
    reg = await started()
    try:
        reads = [
            lambda: reg.list_agents(),
            lambda: reg.find_agents_by_capability("cap"),
            lambda: reg.find_agents(["cap"]),
            lambda: reg.get_agent("r2"),
            lambda: reg.get_metrics(),
            lambda: reg.search("cap"),
        ]
        for k, read in enumerate(reads):
            ids = [f"r{k}-{i}" for i in range(3)] if k != 3 else ["r2"]
            for aid in ids:
                await reg.register_agent(agent(aid, "cap"), "rt", agent_id=aid)
            assert reg.node._pending
            got = await read()
            assert not reg.node._pending, f"read {k} did not apply the pending ones"
            assert got if k != 3 else got is not None and got.agent_id == "r2"
        listed = [m.agent_id for m in await reg.list_agents()]
        assert listed == [f"r{k}-{i}" if k != 3 else "r2" for k in range(6)
                          for i in range(3 if k != 3 else 1)]  # registration order
        # the kaizen attributes read the node too
        await reg.register_agent(agent("late", "cap"), "rt", agent_id="late")
        assert "late" in reg.agents and not reg.node._pending
        await reg.register_agent(agent("late2", "cap"), "rt", agent_id="late2")
        assert "late2" in reg.runtime_agents["rt"]
    finally:
        await reg.shutdown()


async def test_applied_at_the_next_turn_of_the_loop_and_by_a_gossip_round() -> None:
    reg = await started()
    try:
        await reg.register_agent(agent("A", "x"), "rt", agent_id="a")
        node = reg.node
        assert node._pending and node._core is not None and node._core.read.get("a") is None
        await asyncio.sleep(0)
        assert not node._pending and node._core.read.get("a") is not None  # no read needed
        await reg.register_agent(agent("B", "x"), "rt", agent_id="b")
        node._on_timer()  # a timer (gossip round, judge) of the node applies them first
        assert not node._pending and node._core.read.get("b") is not None
    finally:
        await reg.shutdown()


async def test_a_peer_sees_them_and_a_shutdown_loses_none() -> None:
    net, cfg = MemoryNetwork(), NodeConfig.local()
    a = AgentRegistry(QUIET, node_config=cfg, network=net, name="a")
    b = AgentRegistry(QUIET, node_config=cfg, network=net, name="b", seeds=["a"])
    await a.start()
    await b.start()
    try:
        for i in range(50):
            await a.register_agent(agent(f"x{i}", "cap"), "rt", agent_id=f"x{i}")
        assert a.node._pending
        assert await until(lambda: len(b.node.read.visible) == 50)
        await b.register_agent(agent("y", "cap"), "rt-b", agent_id="y")
        core = b.node._core
        assert core is not None and b.node._pending
        await b.node.shutdown()  # a shutdown applies them before it closes anything
        assert core.read.get("y") is not None
    finally:
        await b.shutdown()
        await a.shutdown()


async def test_one_refused_when_applied_drops_no_other() -> None:
    reg = await started()
    try:
        for aid in ("a", "b", "c"):
            await reg.register_agent(agent(aid.upper(), "x"), "rt", agent_id=aid)
        node, core = reg.node, reg.node._core
        assert core is not None
        # "b" becomes visible before the batch is applied (as a peer's registration of the
        # same id would): the core refuses the pending "b", and only it.
        core.register(make_record("b", "other", "rt2", ["y"]), node._now(), wall=0.0)
        assert [m.agent_id for m in await reg.list_agents()] == ["b", "a", "c"]
        assert node.pending_refused == 1
        assert reg.total_registrations == 2 and "b" not in reg._objects
        assert (await reg.get_agent("b")).runtime_id == "rt2"  # type: ignore[union-attr]
    finally:
        await reg.shutdown()


async def test_events_stay_in_order_once_when_something_takes_them() -> None:
    reg = await started()
    try:
        await reg.register_agent(agent("A", "x"), "rt", agent_id="a")
        await reg.register_agent(agent("B", "x"), "rt", agent_id="b")
        stream = reg.node.subscribe()  # applies a and b first: registered before it
        seq0 = reg.node.ring.seq  # RUNTIME_JOINED of "rt" (made by a's registration)
        assert seq0 == 1
        await reg.register_agent(agent("C", "x"), "rt", agent_id="c")  # taken: applied at once
        assert not reg.node._pending
        await reg.update_agent_status("a", "degraded")
        got = []
        for _ in range(2):
            ev = await asyncio.wait_for(anext(aiter(stream)), 2.0)
            got.append((ev.event_type, ev.agent_id, ev.seq))
        assert got == [(E.AGENT_REGISTERED, "c", 2), (E.AGENT_STATUS_CHANGED, "a", 3)]
        stream.close()
    finally:
        await reg.shutdown()


async def test_events_for_the_event_queue_come_with_the_batch_and_a_read_applies_it() -> None:
    reg = await started(AgentRegistryConfig(enable_heartbeat_monitoring=False))
    try:
        await reg.register_agent(agent("A", "x"), "rt", agent_id="a")
        await reg.register_agent(agent("B", "x"), "rt", agent_id="b")
        assert list(reg.node._pending) == ["a", "b"]  # nobody needs the events at once
        assert reg.event_queue.qsize() == 3 and not reg.node._pending  # the look applied them
        got = [reg.event_queue.get_nowait() for _ in range(3)]
        assert [(e.event_type, e.agent_id) for e in got] == [
            (E.RUNTIME_JOINED, None), (E.AGENT_REGISTERED, "a"), (E.AGENT_REGISTERED, "b")]
        await reg.register_agent(agent("C", "x"), "rt", agent_id="c")
        assert reg.node._pending and not reg.event_queue.empty() and not reg.node._pending
        await reg.register_agent(agent("D", "x"), "rt", agent_id="d")
        ev = await reg.get_event(1.0)  # the awaiting read applies them too
        assert ev is not None and (ev.event_type, ev.agent_id) == (E.AGENT_REGISTERED, "c")
        assert (await reg.event_queue.get()).agent_id == "d"
        seen: list[str | None] = []
        reg.subscribe(E.AGENT_REGISTERED, lambda e: seen.append(e.agent_id))
        await reg.register_agent(agent("F", "x"), "rt", agent_id="f")  # a listener waits:
        assert not reg.node._pending  # applied at once, as before
        await until(lambda: seen == ["f"])
    finally:
        await reg.shutdown()


async def test_with_the_http_api_registrations_are_applied_at_once() -> None:
    # The API's metrics tally counts every event by kind (it takes AGENT_REGISTERED): nothing
    # is kept pending, and the API answers as before.
    reg = AgentRegistry(QUIET, node_config=NodeConfig.local(), bind="127.0.0.1:0")
    await reg.start()
    try:
        await reg.register_agent(agent("H", "cap"), "rt", agent_id="h")
        assert not reg.node._pending and reg.node.takes(E.AGENT_REGISTERED)
        async with aiohttp.ClientSession() as s, \
                s.get(f"http://{reg.node.address}/v1/agents/h") as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["agent_id"] == "h"
        assert not reg.node._pending
    finally:
        await reg.shutdown()


async def test_a_batch_moves_its_objects_to_the_oldest_generation_but_leaves_frozen_ones() -> None:
    reg = await started()
    try:
        gc.collect()  # (every count at zero: the next 100 registrations make no gen1 collection)
        for i in range(100):
            await reg.register_agent(agent(f"A{i}", "x"), "rt", agent_id=f"a{i}")
        young = reg.node._pending["a0"]
        assert gc.is_tracked(young) and not any(young is o for o in gc.get_objects(2))
        assert await reg.get_agent("a99") is not None  # the batch is applied
        assert any(young is o for o in gc.get_objects(2))
        gc.freeze()  # a process that keeps its objects frozen (a pre-fork server)
        try:
            frozen = gc.get_freeze_count()
            await reg.register_agent(agent("B", "x"), "rt", agent_id="b")
            assert await reg.get_agent("b") is not None
            assert gc.get_freeze_count() > frozen // 2  # not unfrozen (some may have died)
        finally:
            gc.unfreeze()
    finally:
        await reg.shutdown()
