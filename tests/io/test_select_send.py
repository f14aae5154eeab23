"""Select and send from Python on a 3-node mesh with three real a2a-sdk agents (loopback, port
0, bounded waits): the right agent for a clear need, round-robin evenly, least-loaded around a
full agent, failover from a killed agent into cooldown, never a non-ACTIVE agent, idempotent
retries with one message id, streaming, an A2A 0.3 agent, and hostile input refused before
anything is sent."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from gossipreg.core.errors import InvalidArgumentError, NoMatchError
from gossipreg.core.types import AgentLoad, AgentStatus
from gossipreg.io.route.breaker import BreakerState
from gossipreg.io.route.router import SendFailedError
from tests.a2a_agents import start_agent
from tests.route_mesh import Mesh, route_mesh
from tests.support import until

pytestmark = pytest.mark.network


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async for m in route_mesh():
        yield m


async def test_best_picks_the_right_agent_for_a_clear_need(mesh: Mesh) -> None:
    c = mesh.caller
    got = c.select("translate this letter into French")
    assert got[0].agent_id == "translator" and got[0].why.startswith("best: relevance")
    assert got[0].endpoint is not None and got[0].endpoint.url == mesh.agents["translator"].url
    res = await c.send("summarize this long report", message="Q3 was good.")
    assert res.agent_id == "summarizer" and res.text == "Summarizer: Q3 was good."
    assert [a.outcome for a in res.attempts] == ["ok"] and res.attempts[0].latency > 0
    assert mesh.served() == {"summarizer": 1, "translator": 0, "coder": 0}


async def test_round_robin_spreads_30_sends_within_one_of_even(mesh: Mesh) -> None:
    c = mesh.caller
    picked = Counter()
    for i in range(30):
        res = await c.send(capability="general assistance", strategy="round_robin",
                           message=f"task {i}")
        picked[res.agent_id] += 1
    assert set(picked) == set(mesh.agents)
    assert max(picked.values()) - min(picked.values()) <= 1, picked
    assert mesh.served() == dict(picked)


async def test_least_loaded_avoids_the_agent_whose_owner_reports_it_full(mesh: Mesh) -> None:
    owner = mesh.nodes[0]  # hosts the summarizer
    assert await owner.set_load("summarizer", 10, 10)
    assert not await mesh.caller.set_load("summarizer", 0, 10)  # only its owner publishes it
    c = mesh.caller
    assert await until(lambda: c.read.load("summarizer") == AgentLoad(10, 10))
    got = c.select(capability="general assistance", strategy="least_loaded", k=3)
    assert got[-1].agent_id == "summarizer" and got[-1].why.endswith("full")
    for i in range(9):
        await c.send(capability="general assistance", strategy="least_loaded",
                     message=f"t{i}")
    assert mesh.served()["summarizer"] == 0


async def test_a_killed_agent_fails_over_within_the_deadline_into_cooldown(mesh: Mesh) -> None:
    c = mesh.caller
    await mesh.agents["summarizer"].kill()
    res = await c.send(agent_ids=["summarizer", "translator"], message="hello", deadline=5.0)
    assert res.agent_id == "translator"
    assert [(a.agent_id, a.outcome) for a in res.attempts] == [
        ("summarizer", "unreachable"), ("translator", "ok")]
    assert sum(a.latency for a in res.attempts) < 5.0
    assert c.router.breakers.state("summarizer", time.monotonic()) is BreakerState.OPEN
    counters = c.router.counters["summarizer"]
    assert (counters.failed_tasks, counters.error_count, counters.completed_tasks) == (1, 1, 0)
    # Skipped while cooling: the next send goes straight to the translator.
    res = await c.send(agent_ids=["summarizer", "translator"], message="again")
    assert [a.agent_id for a in res.attempts] == ["translator"]
    # A failed send never writes a status.
    assert all(n.get("summarizer").status is AgentStatus.ACTIVE for n in mesh.nodes)


async def test_a_non_active_agent_is_never_chosen(mesh: Mesh) -> None:
    c = mesh.caller
    await mesh.nodes[1].set_status("translator", AgentStatus.DEGRADED)
    assert await until(lambda: c.get("translator").status is AgentStatus.DEGRADED)
    for strategy in ("best", "round_robin", "random", "least_loaded"):
        for _ in range(5):
            got = c.select(capability="general assistance", strategy=strategy, k=3)
            assert "translator" not in [x.agent_id for x in got]
    with pytest.raises(NoMatchError):
        await c.send(agent_ids=["translator"], message="x")
    assert [x.agent_id for x in c.select(agent_ids=["translator"], status="degraded")] == [
        "translator"]
    assert mesh.served()["translator"] == 0


async def test_idempotent_sends_retry_5xx_with_one_message_id(mesh: Mesh) -> None:
    c = mesh.caller
    mesh.agents["summarizer"].mode = "500"
    with pytest.raises(SendFailedError) as e:
        await c.send(agent_ids=["summarizer", "coder"], message="once")
    assert [a.outcome for a in e.value.attempts] == ["server_error"]
    assert "not marked idempotent" in str(e.value) and mesh.served()["coder"] == 0
    c.router.breakers.success("summarizer")
    res = await c.send(agent_ids=["summarizer", "coder"], message="twice", idempotent=True)
    assert res.agent_id == "coder" and [a.outcome for a in res.attempts] == [
        "server_error", "ok"]
    assert mesh.agents["coder"].served == [res.message_id]


async def test_streaming_answers_are_passed_through(mesh: Mesh) -> None:
    streamer = await start_agent("Streamer", streaming=True)
    try:
        await mesh.nodes[0].register(agent_id="streamer", card=streamer.card(
            [("poem", "Write poems", ["poetry"])]))
        c = mesh.caller
        assert await until(lambda: c.get("streamer") is not None)
        events = [e async for e in c.send_stream("write a poem", message="roses")]
        kinds = [k for k, _ in events]
        assert kinds.count("response") >= 3 and kinds[-2:] == ["attempt", "result"]
        assert events[-1][1].agent_id == "streamer"
        assert events[-1][1].text == "Streamer: roses"
    finally:
        await streamer.kill()


async def test_an_a2a_0_3_agent_through_the_sdks_compatibility_layer(mesh: Mesh) -> None:
    old = await start_agent("Legacy", version="0.3")
    try:
        await mesh.nodes[1].register(agent_id="legacy", card=old.card(
            [("weather", "Weather forecasts", ["weather"])]))
        c = mesh.caller
        assert await until(lambda: c.get("legacy") is not None)
        ep = c.select("weather forecast")[0].endpoint
        assert ep is not None and ep.version == "0.3.0"
        res = await c.send("weather forecast", message="Paris?")
        assert res.agent_id == "legacy" and res.text == "Legacy: Paris?"
    finally:
        await old.kill()


async def test_hostile_input_is_refused_before_anything_is_sent(mesh: Mesh) -> None:
    c = mesh.caller
    bad = [
        (dict(strategy="fastest"), "unknown strategy 'fastest'"),
        (dict(message="x" * 70_000), "message is larger than 65536 bytes"),
        (dict(deadline=0), "deadline must be > 0 and at most 600 seconds"),
        (dict(deadline=-1), "deadline must be > 0"),
        (dict(attempts=0), "attempts must be an integer in 1..10"),
        (dict(message={"parts": "nope"}), "message is not an A2A Message"),
        (dict(message=""), "message must not be empty"),
    ]
    for kw, text in bad:
        args = {"message": "hi", **kw}
        with pytest.raises(InvalidArgumentError, match=text):
            await c.send("general assistance", **args)  # type: ignore[arg-type]
    with pytest.raises(NoMatchError, match="no reachable agent matches text 'quantum"):
        await c.send("quantum chromodynamics lattice", message="hi")
    assert mesh.served() == {"summarizer": 0, "translator": 0, "coder": 0}


async def test_the_owner_publishes_the_sends_in_flight_through_it(mesh: Mesh) -> None:
    owner, other = mesh.nodes[0], mesh.nodes[1]  # n0 hosts the summarizer
    mesh.agents["summarizer"].mode = "stall"  # holds the request, then answers 500
    sending = asyncio.create_task(owner.send(agent_ids=["summarizer"], message="slow",
                                             deadline=3.0))
    assert await until(lambda: other.read.load("summarizer") == AgentLoad(1, 10))
    with pytest.raises(SendFailedError) as e:
        await sending
    assert [a.outcome for a in e.value.attempts] == ["timeout"]
    assert await until(lambda: other.read.load("summarizer") == AgentLoad(0, 10))
