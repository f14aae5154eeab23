"""Streams that resume, over real HTTP on 127.0.0.1 (port 0) with a real SSE client
(httpx-sse): Last-Event-ID replays what happened while away exactly once; a restart, a ring
overflow or a garbage id yields a reset; list-then-watch from the returned position equals the
final list; blocking list queries; single-use tickets; the Python API. Bounded waits."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gossipreg import AgentRegistry, AgentStatus, GossipNode, NodeConfig
from gossipreg.core.types import RegistryEventType
from tests._meshkit import SseCollector, until

pytestmark = pytest.mark.network


async def one_node(name: str = "solo", **cfg: Any) -> GossipNode:
    return await GossipNode(name, config=NodeConfig.local(heartbeat_timeout=None, **cfg)).start()


async def reg(node: GossipNode, aid: str) -> None:
    await node.register(agent_id=aid, name=aid, runtime_id="rt", capabilities=["c"])


async def test_resume_after_reconnect_gets_the_missed_events_once() -> None:
    node = await one_node()
    url = f"http://{node.address}/v1/events"
    try:
        first = await SseCollector(url).start()
        await reg(node, "a1")
        assert await until(lambda: len(first.events) >= 2, 5.0)  # runtime_joined, registered
        await first.stop()
        assert first.retry is not None and first.retry > 0
        last = first.events[-1][1]
        assert last.startswith(node.ring.stream_id + "-")
        # Away: two registrations, a status write and a deregistration.
        await reg(node, "a2")
        await reg(node, "a3")
        await node.set_status("a2", AgentStatus.DEGRADED, "x")
        assert await node.deregister("a1")
        again = await SseCollector(url, {"Last-Event-ID": last}).start()
        assert await until(lambda: len(again.events) >= 4, 5.0)
        # A marker after the resume: once it arrives, whatever came before it has arrived.
        await reg(node, "marker")
        assert await until(lambda: any(d.get("agent_id") == "marker"
                                       for _, _, d in again.events), 5.0)
        await again.stop()
        kinds = [(k, d["agent_id"]) for k, _, d in again.events]
        assert kinds[:4] == [("agent_registered", "a2"), ("agent_registered", "a3"),
                             ("agent_status_changed", "a2"), ("agent_deregistered", "a1")]
        assert kinds[4] == ("agent_registered", "marker")
        seqs = [int(i.rsplit("-", 1)[1]) for _, i, _ in first.events + again.events]
        assert seqs == list(range(1, len(seqs) + 1))  # none missed, none twice
    finally:
        await node.shutdown()


async def test_ring_overflow_and_garbage_ids_get_a_reset_never_a_500() -> None:
    node = await one_node(event_ring_size=3)
    url = f"http://{node.address}/v1/events"
    try:
        await reg(node, "a0")
        old = node.position
        for i in range(1, 5):
            await reg(node, f"a{i}")
        sid = node.ring.stream_id
        for bad, why in ((old, "expired"), ("garbage", "garbage"), ("x-y-z", "garbage"),
                         ("-1", "garbage"), ("", "garbage"), ("a" * 500, "garbage"),
                         (f"{sid}-99", "ahead"), ("elsewhere-1", "other_stream")):
            c = await SseCollector(url, {"Last-Event-ID": bad}).start()
            assert await until(lambda c=c: bool(c.events), 5.0), bad
            await c.stop()
            assert c.events[0][0] == "reset", bad
            assert c.events[0][1] == node.position
            assert c.events[0][2]["metadata"]["reason"] == why, bad
        async with httpx.AsyncClient() as http, http.stream(
                "GET", url, params={"since": "%%%"}) as r:
            assert r.status_code == 200  # the stream begins (with its reset)
    finally:
        await node.shutdown()


async def test_a_restarted_node_resets_a_stream_of_its_previous_life() -> None:
    node = await one_node("phoenix")
    await reg(node, "a1")
    before = node.position
    port = node.address.rsplit(":", 1)[1]
    await node.shutdown()
    node = await GossipNode("phoenix", bind=f"127.0.0.1:{port}",
                            config=NodeConfig.local(heartbeat_timeout=None)).start()
    try:
        c = await SseCollector(f"http://{node.address}/v1/events",
                               {"Last-Event-ID": before}).start()
        assert await until(lambda: bool(c.events), 5.0)
        await c.stop()
        assert c.events[0][0] == "reset"
        assert c.events[0][2]["metadata"]["stream_id"] == node.ring.stream_id != before[:12]
        assert c.events[0][2]["metadata"]["reason"] == "other_stream"
    finally:
        await node.shutdown()


async def test_list_then_watch_misses_nothing_and_doubles_nothing() -> None:
    node = await one_node()
    base = f"http://{node.address}"
    try:
        for i in range(3):
            await reg(node, f"a{i}")
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.get("/v1/agents")
            listed = {a["agent_id"]: a["status"] for a in r.json()}
            pos = r.headers["X-Gossipreg-Event-Id"]
            index = int(r.headers["X-Gossipreg-Index"])
            assert pos == f"{r.headers['X-Gossipreg-Stream']}-{index}"
            # Changes between the list and the watch.
            await reg(node, "b1")
            assert await node.deregister("a0")
            watch = await SseCollector(f"{base}/v1/events", {"Last-Event-ID": pos}).start()
            await reg(node, "b2")
            await node.set_status("a1", AgentStatus.DEGRADED)
            final = {a["agent_id"]: a["status"] for a in (await http.get("/v1/agents")).json()}
            assert await until(lambda: watch.of("agent_status_changed", "a1") != [], 5.0)
            await watch.stop()
        for kind, _, d in watch.events:
            if kind == "agent_registered":
                assert d["agent_id"] not in listed
                listed[d["agent_id"]] = d["metadata"]["status"]
            elif kind == "agent_deregistered":
                del listed[d["agent_id"]]
            elif kind == "agent_status_changed":
                assert listed[d["agent_id"]] == d["metadata"]["old_status"]
                listed[d["agent_id"]] = d["metadata"]["new_status"]
        assert listed == final
    finally:
        await node.shutdown()


async def test_blocking_list_query_and_its_limits() -> None:
    node = await one_node()
    try:
        async with httpx.AsyncClient(base_url=f"http://{node.address}") as http:
            r = await http.get("/v1/members")
            index = int(r.headers["X-Gossipreg-Index"])
            waiting = asyncio.create_task(http.get("/v1/agents",
                                                   params={"index": index, "wait": "20s"}))
            # Parked on the node (nothing happened after index yet), then woken by a write.
            assert await until(lambda: node.waiting_queries == 1, 5.0)
            assert not waiting.done()
            await reg(node, "late")
            r = await asyncio.wait_for(waiting, 10.0)
            assert [a["agent_id"] for a in r.json()] == ["late"]
            assert int(r.headers["X-Gossipreg-Index"]) > index
            # Out of range: a 400 that names the limit.
            for params, word in (({"index": 0, "wait": "601s"}, "600s"),
                                 ({"index": 0, "wait": "0s"}, "600s"),
                                 ({"index": 0, "wait": "soon"}, "600s"),
                                 ({"index": -1}, "9223372036854775807"),
                                 ({"index": "x"}, "9223372036854775807"),
                                 ({"wait": "1s"}, "index")):
                for path in ("/v1/agents", "/v1/members"):
                    r = await http.get(path, params=params)
                    assert r.status_code == 400 and word in r.text, (path, params, r.text)
            r = await http.get("/v1/agents", params={"index": 10**6, "wait": "30s"})
            assert r.status_code == 200  # an index from another stream answers at once
    finally:
        await node.shutdown()


async def test_a_ticket_opens_one_stream_within_its_lifetime() -> None:
    node = await GossipNode("locked", config=NodeConfig.local(heartbeat_timeout=None),
                            token="s3cret").start()
    base = f"http://{node.address}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.post("/v1/events/ticket")).status_code == 401
            r = await http.post("/v1/events/ticket",
                                headers={"Authorization": "Bearer s3cret"})
            assert r.status_code == 201 and r.json()["expires_in"] == 60
            ticket = r.json()["ticket"]
        c = await SseCollector(f"{base}/v1/events?ticket={ticket}").start()
        await reg(node, "t1")
        assert await until(lambda: bool(c.of("agent_registered", "t1")), 5.0)
        await c.stop()
        async with httpx.AsyncClient(base_url=base) as http:
            for params in ({"ticket": ticket}, {"ticket": "forged"}, {}):
                r = await http.get("/v1/events", params=params)
                assert r.status_code == 401, params
    finally:
        await node.shutdown()


async def test_python_subscribe_and_registry_events_resume() -> None:
    reg_ = AgentRegistry()
    await reg_.start()
    try:
        node = reg_.node
        await reg_.register_agent(object(), runtime_id="rt", agent_id="p1")
        pos = node.position
        await reg_.register_agent(object(), runtime_id="rt", agent_id="p2")
        s = node.subscribe(since=pos)
        ev = s.get_nowait()
        assert ev is not None and ev.event_type is RegistryEventType.AGENT_REGISTERED
        assert ev.agent_id == "p2" and s.get_nowait() is None
        s.close()
        events = reg_.events(since=pos)
        got = await asyncio.wait_for(events.__anext__(), 2.0)
        assert got.agent_id == "p2" and got.event_id == node.position
        await events.aclose()
        events = reg_.events(since="elsewhere-3")
        got = await asyncio.wait_for(events.__anext__(), 2.0)
        assert got.event_type is RegistryEventType.STREAM_RESET
        await events.aclose()
        # A consumer whose buffer overflowed learns of it where it happened.
        small = node.subscribe(maxsize=2)
        for i in range(5):
            await reg_.register_agent(object(), runtime_id="rt2", agent_id=f"q{i}")
        first = small.get_nowait()
        assert first is not None and first.event_type is RegistryEventType.STREAM_RESET
        assert first.metadata["reason"] == "dropped"
        nxt = small.get_nowait()
        assert nxt is not None and nxt.seq == first.seq + 1
        small.close()
    finally:
        await reg_.shutdown()


def test_tickets_are_single_use_and_expire() -> None:
    from gossipreg.io.api.sse import Tickets

    fresh = Tickets(ttl=60.0)
    t = fresh.issue()
    assert fresh.redeem(t) and not fresh.redeem(t) and not fresh.redeem("forged")
    stale = Tickets(ttl=0.0)  # expired as soon as issued: no sleeping for a minute
    assert not stale.redeem(stale.issue())
