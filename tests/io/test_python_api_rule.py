"""One rule for sync and async in the Python API (docs/design/shapes.md §5): every call that
changes the mesh acts at once and is awaited for its final answer; reads are plain; the calls
that were synchronous keep working unawaited for a release, with a DeprecationWarning; enums and
their string values are accepted alike."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest

from gossipreg import (
    AgentRegistry,
    AgentStatus,
    GossipNode,
    InvalidArgumentError,
    MemoryNetwork,
    NodeConfig,
    RegistryEventType,
)
from gossipreg.core.directory.directory import Pending
from gossipreg.io.writes import Outcome
from tests.support import until

CFG = NodeConfig.local(heartbeat_timeout=None)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[GossipNode, GossipNode]]:
    net = MemoryNetwork()
    a = await GossipNode("a", network=net, config=CFG).start()
    b = await GossipNode("b", network=net, config=CFG, seeds=["a"]).start()
    assert await b.wait_joined(5.0)
    yield a, b
    await b.shutdown()
    await a.shutdown()


async def test_every_mesh_changing_call_acts_at_once_and_is_awaited_for_its_answer(
        pair: tuple[GossipNode, GossipNode]) -> None:
    a, _ = pair
    out = a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    assert isinstance(out, Outcome) and out.done()
    assert a.get("x") is not None  # before any await
    view = await out
    assert view.agent_id == "x" and view.node_id == "a"
    status = a.set_status("x", AgentStatus.DEGRADED, "slow disk")
    assert a.get("x").status is AgentStatus.DEGRADED  # type: ignore[union-attr]
    assert await status is True
    beat = a.heartbeat("x")
    assert a.get("x").heartbeat_count == 1  # type: ignore[union-attr]
    assert await beat is True
    gone = a.deregister("x")
    assert a.get("x") is None
    assert await gone is True


async def test_a_forwarded_call_is_sent_at_once_and_awaited_for_the_owners_answer(
        pair: tuple[GossipNode, GossipNode]) -> None:
    a, b = pair
    await a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    assert await until(lambda: b.get("x") is not None, 5.0)
    beat = b.heartbeat("x")
    assert not beat.done() and beat.local is True  # on its way to the owner
    assert await beat is True
    assert a.get("x").heartbeat_count == 1  # type: ignore[union-attr]
    assert await b.deregister("x") is True
    assert a.get("x") is None


async def test_a_forgotten_await_no_longer_drops_a_heartbeat(
        pair: tuple[GossipNode, GossipNode]) -> None:
    a, b = pair
    await a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    assert await until(lambda: b.get("x") is not None, 5.0)
    with pytest.warns(DeprecationWarning, match=r"heartbeat\(\) was not awaited"):
        a.heartbeat("x")  # no await: it still counts
    assert a.get("x").heartbeat_count == 1  # type: ignore[union-attr]
    with pytest.warns(DeprecationWarning, match=r"heartbeat\(\) was not awaited"):
        b.heartbeat("x")  # forwarded: it still reaches the owner
    assert await until(lambda: a.get("x").heartbeat_count == 2, 5.0)  # type: ignore[union-attr]


async def test_the_calls_that_were_sync_keep_working_unawaited_with_a_warning(
        pair: tuple[GossipNode, GossipNode]) -> None:
    a, _ = pair
    view = a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    with pytest.warns(DeprecationWarning, match=r"register\(\) returns an awaitable"):
        assert view.agent_id == "x"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert view.status is AgentStatus.ACTIVE  # one warning per result, not per use
    with pytest.warns(DeprecationWarning, match=r"set_status\(\) returns an awaitable"):
        assert a.set_status("x", "degraded")
    with pytest.warns(DeprecationWarning, match=r"set_status\(\) was not awaited"):
        a.set_status("x", AgentStatus.ACTIVE)
    assert a.get("x").status is AgentStatus.ACTIVE  # type: ignore[union-attr]
    with pytest.warns(DeprecationWarning, match=r"register\(\) was not awaited"):
        a.register(agent_id="y", name="Y", runtime_id="rt", capabilities=["go"])
    assert a.get("y") is not None


async def test_set_status_waits_for_an_owner_that_answers_later(
        pair: tuple[GossipNode, GossipNode], monkeypatch: pytest.MonkeyPatch) -> None:
    """A status write forwarded to its owner (the core answers Pending) is awaited for the
    owner's answer, as heartbeats and deregistrations are."""
    a, _ = pair
    await a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    monkeypatch.setattr(a.core, "set_status", lambda *args, **kw: Pending(4242))
    out = a.set_status("x", "degraded")
    assert not out.done() and out.local is True
    a._futures[4242].set_result(False)
    assert await out is False


async def test_enums_and_their_values_are_accepted_alike(
        pair: tuple[GossipNode, GossipNode]) -> None:
    a, b = pair
    stream = b.subscribe(["agent_status_changed"])
    await a.register(agent_id="x", name="X", runtime_id="rt", capabilities=["python"])
    assert await until(lambda: b.get("x") is not None, 5.0)
    assert await a.set_status("x", "degraded") is True
    assert [v.agent_id for v in a.find("python", status="degraded")] == ["x"]
    assert [v.agent_id for v in a.list_agents(status="degraded")] == ["x"]
    ev = await stream.get(timeout=5.0)
    assert ev is not None and ev.event_type is RegistryEventType.AGENT_STATUS_CHANGED
    with pytest.raises(InvalidArgumentError, match=r"unknown status 'bogus': use one of"):
        a.set_status("x", "bogus")
    with pytest.raises(InvalidArgumentError, match=r"unknown event type 'bogus'"):
        a.subscribe(["bogus"])
    with pytest.raises(InvalidArgumentError, match=r"unknown status"):
        a.find("python", status="bogus")


async def test_the_registry_takes_status_and_event_names_too() -> None:
    async with AgentRegistry() as reg:
        seen: list[str] = []
        reg.subscribe("agent_status_changed", lambda ev: seen.append(ev.agent_id))
        aid = await reg.register_agent(object(), "rt", agent_id="x", capabilities=["python"])
        assert await reg.update_agent_status(aid, "degraded") is True
        assert [m.agent_id for m in await reg.find_agents("python", status="degraded")] == ["x"]
        assert [m.agent_id for m in await reg.find_agents_by_status("degraded")] == ["x"]
        assert await until(lambda: seen == ["x"], 5.0)
        with pytest.raises(InvalidArgumentError, match="unknown status"):
            await reg.update_agent_status(aid, "bogus")
