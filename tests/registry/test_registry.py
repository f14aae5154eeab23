"""kaizen compatibility of ``AgentRegistry`` (ANCHORS.md §1), in embedded mode, and its fixes of
kaizen's defects."""

from __future__ import annotations

import asyncio
import inspect
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from gossipreg import AgentRegistry, AgentRegistryConfig, AgentStatus, RegistryEventType
from gossipreg.registry import AgentMetadata, RegistryEvent
from tests.support import until

E = RegistryEventType


def agent(name: str, *caps: str, **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(name=name, _a2a_card={"capabilities": list(caps)}, **extra)




@pytest.fixture
async def reg() -> Any:
    r = AgentRegistry()
    await r.start()
    yield r
    await r.shutdown()


def test_names_values_and_defaults() -> None:
    assert [s.value for s in AgentStatus] == ["active", "degraded", "unhealthy", "offline"]
    assert [e.value for e in list(E)[:6]] == [
        "agent_registered", "agent_deregistered", "agent_status_changed", "agent_heartbeat",
        "runtime_joined", "runtime_left"]
    c = AgentRegistryConfig()
    assert (c.enable_heartbeat_monitoring, c.heartbeat_timeout, c.auto_deregister_timeout,
            c.enable_capability_indexing, c.rebuild_index_interval, c.enable_event_broadcasting,
            c.event_queue_size, c.max_concurrent_queries, c.query_timeout) == (
        True, 60.0, 300.0, True, 300.0, True, 1000, 100, 5.0)
    ev = RegistryEvent(E.AGENT_REGISTERED)
    assert ev.agent_id is None and ev.runtime_id is None and ev.metadata == {}
    assert isinstance(ev.timestamp, datetime)


def test_signatures_match_kaizen() -> None:
    sig = inspect.signature
    p = sig(AgentRegistry.register_agent).parameters
    assert [n for n in p][:7] == ["self", "agent", "runtime_id", "agent_id", "max_concurrency",
                                  "memory_limit_mb", "budget_limit_usd"]
    assert (p["agent_id"].default, p["max_concurrency"].default, p["memory_limit_mb"].default,
            p["budget_limit_usd"].default) == (None, 10, 512, 1.0)
    assert list(sig(AgentRegistry.deregister_agent).parameters) == [
        "self", "agent_id", "runtime_id"]
    assert sig(AgentRegistry.find_agents_by_capability).parameters[
        "status_filter"].default is AgentStatus.ACTIVE
    assert sig(AgentRegistry.list_agents).parameters["status_filter"].default is None
    assert sig(AgentRegistry.update_agent_status).parameters["runtime_id"].default is None
    for name in ("start", "shutdown", "register_agent", "deregister_agent", "get_agent",
                 "list_agents", "find_agents_by_capability", "find_agents_by_runtime",
                 "find_agents_by_status", "update_agent_status", "update_agent_heartbeat",
                 "get_metrics", "get_event"):
        assert inspect.iscoroutinefunction(getattr(AgentRegistry, name)), name
    assert not inspect.iscoroutinefunction(AgentRegistry.subscribe)
    assert not inspect.iscoroutinefunction(AgentRegistry.unsubscribe)


async def test_register_ids_and_duplicates(reg: AgentRegistry) -> None:
    a = await reg.register_agent(agent("A", "x"), "rt", agent_id="given")
    b = await reg.register_agent(agent("B", "x", agent_id="from-attr"), "rt")
    c = await reg.register_agent(agent("C", "x"), "rt")
    assert (a, b) == ("given", "from-attr")
    assert c.startswith("agent_") and len(c) == len("agent_") + 8
    with pytest.raises(ValueError, match="already registered"):
        await reg.register_agent(agent("A2", "y"), "rt", agent_id="given")


async def test_queries_and_metadata(reg: AgentRegistry) -> None:
    obj = agent("Coder", "Python code generation", "code review")
    aid = await reg.register_agent(obj, "rt1", max_concurrency=3)
    await reg.register_agent(agent("Writer", "content writing"), "rt2", agent_id="w")
    m = await reg.get_agent(aid)
    assert isinstance(m, AgentMetadata)
    assert m.agent is obj and m.agent_id == aid and m.runtime_id == "rt1"
    assert m.status is AgentStatus.ACTIVE and isinstance(m.last_heartbeat, datetime)
    assert m.max_concurrency == 3 and m.memory_limit_mb == 512 and m.budget_limit_usd == 1.0
    assert (m.active_tasks, m.completed_tasks, m.failed_tasks, m.budget_spent_usd,
            m.error_count, m.request_count) == (0, 0, 0, 0.0, 0, 0)
    assert m.a2a_card == {"capabilities": ["Python code generation", "code review"]}
    assert await reg.get_agent("nope") is None
    assert [x.agent_id for x in await reg.find_agents_by_capability("PYTHON")] == [aid]
    assert [x.agent_id for x in await reg.find_agents_by_runtime("rt2")] == ["w"]
    assert len(await reg.list_agents()) == 2
    assert [x.agent_id for x in await reg.list_agents(runtime_id="rt1")] == [aid]
    assert await reg.update_agent_status(aid, AgentStatus.DEGRADED) is True
    assert await reg.find_agents_by_capability("python") == []
    assert len(await reg.find_agents_by_capability("python", status_filter=None)) == 1
    assert [x.agent_id for x in await reg.find_agents_by_status(AgentStatus.DEGRADED)] == [aid]
    assert await reg.update_agent_status(aid, AgentStatus.ACTIVE, runtime_id="wrong") is False
    assert await reg.update_agent_status("nope", AgentStatus.ACTIVE) is False
    assert reg.runtime_agents == {"rt1": {aid}, "rt2": {"w"}}
    assert reg.capability_index["python code generation"] == {aid}
    assert reg.status_index[AgentStatus.DEGRADED] == {aid}
    assert set(reg.agents) == {aid, "w"}
    metrics = await reg.get_metrics()
    assert {"total_agents", "total_runtimes", "status_distribution", "runtime_distribution",
            "total_queries", "total_registrations", "total_deregistrations",
            "capability_index_size"} <= set(metrics)
    assert metrics["total_agents"] == 2 and metrics["total_registrations"] == 2
    assert metrics["status_distribution"]["degraded"] == 1
    assert reg._running and reg._heartbeat_monitor_task and reg._event_broadcaster_task


async def test_capability_sources_and_bad_capability(reg: AgentRegistry) -> None:
    kaizen_style = SimpleNamespace(name="K", _a2a_card={"capability": "one",
                                                        "capabilities": "two"})
    a2a = SimpleNamespace(name="A", agent_card={"skills": [
        {"id": "s", "name": "Translation", "description": "French to English",
         "tags": ["lang"]}]})
    plain = SimpleNamespace(name="P", capabilities=["plain skill"])
    for i, o in enumerate((kaizen_style, a2a, plain)):
        await reg.register_agent(o, "rt", agent_id=f"a{i}")
    assert (await reg.get_agent("a0")).capabilities == ["one", "two"]  # type: ignore[union-attr]
    assert (await reg.get_agent("a1")).capabilities == [  # type: ignore[union-attr]
        "Translation", "French to English", "lang"]
    assert (await reg.get_agent("a2")).capabilities == ["plain skill"]  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await reg.register_agent(SimpleNamespace(_a2a_card={"capabilities": ["ok", 5]}), "rt",
                                 agent_id="bad")
    assert await reg.get_agent("bad") is None
    assert len(await reg.find_agents_by_capability("")) == 3  # later queries still work


async def test_deregister_and_wrong_runtime(reg: AgentRegistry) -> None:
    aid = await reg.register_agent(agent("A", "x"), "rt")
    assert await reg.deregister_agent(aid, "other") is False
    assert await reg.get_agent(aid) is not None
    assert await reg.deregister_agent(aid, "rt") is True
    assert await reg.deregister_agent(aid, "rt") is False
    assert (await reg.get_metrics())["total_deregistrations"] == 1


async def test_event_order_and_get_event(reg: AgentRegistry) -> None:
    aid = await reg.register_agent(agent("A", "x"), "rt")
    await reg.update_agent_heartbeat(aid)
    await reg.deregister_agent(aid, "rt")
    await reg.register_agent(agent("B", "x"), "rt", agent_id="b")
    kinds = []
    while (ev := await reg.get_event(timeout=0.5)) is not None:
        kinds.append((ev.event_type, ev.agent_id))
    assert kinds == [(E.RUNTIME_JOINED, None), (E.AGENT_REGISTERED, aid),
                     (E.AGENT_HEARTBEAT, aid), (E.AGENT_DEREGISTERED, aid),
                     (E.RUNTIME_LEFT, None), (E.RUNTIME_JOINED, None),
                     (E.AGENT_REGISTERED, "b")]
    # An empty queue answers None once its timeout passes (bounded: it must not hang).
    assert await asyncio.wait_for(reg.get_event(timeout=0.1), 5.0) is None


async def test_subscribers_sync_and_async(reg: AgentRegistry) -> None:
    got: list[str] = []
    release = asyncio.Event()

    async def slow(ev: RegistryEvent) -> None:
        await release.wait()  # a listener stuck until every registration has returned
        got.append("async:" + str(ev.agent_id))

    def fast(ev: RegistryEvent) -> None:
        got.append("sync:" + str(ev.agent_id))

    reg.subscribe(E.AGENT_REGISTERED, slow)
    reg.subscribe(E.AGENT_REGISTERED, fast)
    async def register_all() -> None:
        for i in range(20):
            await reg.register_agent(agent(f"A{i}", "x"), "rt", agent_id=f"a{i}")

    # Registrations must not wait for a listener: they all return while it is still stuck.
    await asyncio.wait_for(register_all(), 5.0)
    assert not any(g.startswith("async:") for g in got)
    release.set()
    assert await until(lambda: len(got) == 40, 5.0)
    reg.unsubscribe(E.AGENT_REGISTERED, fast)
    await reg.register_agent(agent("Z", "x"), "rt", agent_id="z")
    assert await until(lambda: "async:z" in got)
    assert "sync:z" not in got


async def test_bounded_queue_never_blocks_without_start() -> None:
    reg = AgentRegistry(AgentRegistryConfig(event_queue_size=100))
    try:
        for i in range(1500):
            await asyncio.wait_for(
                reg.register_agent(agent(f"A{i}", "x"), "rt", agent_id=f"a{i}"), 1.0)
        assert reg.event_queue.qsize() == 100
        assert (await reg.get_metrics())["events_dropped"] >= 1500 - 100
        ev = await reg.get_event(timeout=0.1)
        assert ev is not None and ev.agent_id == "a1400"  # the oldest were dropped
    finally:
        await reg.shutdown()


async def test_missed_heartbeats_change_status_then_deregister() -> None:
    reg = AgentRegistry(AgentRegistryConfig(heartbeat_timeout=0.3, auto_deregister_timeout=0.8))
    await reg.start()
    try:
        aid = await reg.register_agent(agent("A", "x"), "rt")
        await reg.update_agent_heartbeat(aid)
        assert await until(lambda: reg.agents.get(aid) is not None
                              and reg.agents[aid].status is AgentStatus.UNHEALTHY, 3.0)
        assert await until(lambda: aid not in reg.agents, 3.0)
        kinds = []
        while (ev := await reg.get_event(timeout=0.2)) is not None:
            kinds.append(ev.event_type)
        assert E.AGENT_HEARTBEAT in kinds and E.AGENT_STATUS_CHANGED in kinds
        assert kinds[-2:] == [E.AGENT_DEREGISTERED, E.RUNTIME_LEFT]
    finally:
        await reg.shutdown()


async def test_native_events_and_find_agents(reg: AgentRegistry) -> None:
    seen: list[str | None] = []

    await reg.start()
    since = reg.node.position  # the stream resumes from here, whenever the task starts

    async def consume() -> None:
        async for ev in reg.events([E.AGENT_REGISTERED], since=since):
            seen.append(ev.agent_id)
            if len(seen) == 2:
                return

    task = asyncio.create_task(consume())
    await reg.register_agent(agent("A", "python code", "review"), "rt1", agent_id="a",
                             tags=["gpu"])
    await reg.register_agent(agent("B", "python data"), "rt2", agent_id="b")
    await asyncio.wait_for(task, 2.0)
    assert seen == ["a", "b"]
    assert [m.agent_id for m in await reg.find_agents(["python", "review"])] == ["a"]
    assert [m.agent_id for m in await reg.find_agents("python", tags=["gpu"])] == ["a"]
    assert [m.agent_id for m in await reg.find_agents("python", runtime_id="rt2")] == ["b"]
    assert len(await reg.find_agents("python", limit=1)) == 1
