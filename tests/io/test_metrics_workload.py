"""``/metrics`` after a scripted workload on a 3-node mesh: every figure of the monitoring list
moves by the expected amount (registrations, heartbeats received / missed / expired at their
owner, deregistrations by cause, runtimes joining and leaving, a search per surface, a killed
node, the event buffers' depth and drops), the exposition passes ``promtool check metrics``
and has no ``_created`` series; select / send outcomes appear once a node serves the route."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import AgentStatus
from tests._meshkit import http_mesh
from tests.support import until, until_awaited

pytestmark = pytest.mark.network
Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(addr: str, raw: list[str] | None = None) -> Figures:
    async with aiohttp.ClientSession() as s, s.get(f"http://{addr}/metrics") as r:
        text = await r.text()
    if raw is not None:
        raw.append(text)
    return {(smp.name, frozenset(smp.labels.items())): smp.value
            for fam in text_string_to_metric_families(text) for smp in fam.samples}


def fig(f: Figures, name: str, **labels: str) -> float:
    return f.get((name, frozenset(labels.items())), 0.0)


def moved(before: Figures, after: Figures, name: str, **labels: str) -> float:
    return fig(after, name, **labels) - fig(before, name, **labels)


@pytest.fixture
async def mesh() -> AsyncIterator[list[GossipNode]]:
    nodes = await http_mesh(["n0", "n1", "n2"], heartbeat_timeout=1.0,
                            auto_deregister_timeout=2.0)
    yield nodes
    for n in nodes:
        await n.shutdown()


async def test_each_figure_moves_by_the_workload(mesh: list[GossipNode]) -> None:
    n0, n1, n2 = mesh
    a0, a2 = n0.address, n2.address
    before0, before2 = await scrape(a0), await scrape(a2)
    # A subscriber that never reads: its buffer of 1 fills, and every later event is a drop.
    events: list[Any] = []
    n0.add_listener(events.append)
    stuck = n0.subscribe(maxsize=1)

    await n0.register(agent_id="a1", name="Kept", runtime_id="rt-a", capabilities=["translate"])
    await n0.register(agent_id="a2", name="Silent", runtime_id="rt-a", capabilities=["summarise"])
    await n1.register(agent_id="b1", name="Remote", runtime_id="rt-b", capabilities=["invoices"])
    sent = unsure = 0  # unsure: a forwarded beat whose answer timed out (it may still arrive)
    stop = asyncio.Event()

    async def beat() -> None:  # a1 stays alive through n0 (its owner) and through n2 (forwarded)
        nonlocal sent, unsure
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                for addr in (a0, a2):
                    async with s.post(f"http://{addr}/v1/agents/a1/heartbeat") as r:
                        body = await r.json()
                        if body.get("ok"):
                            sent += 1
                        else:
                            unsure += 1
                await asyncio.sleep(0.1)

    # a1 beats from the start: n1's shutdown may take longer than a1's heartbeat timeout (1 s).
    task = asyncio.create_task(beat())
    try:
        assert await until(lambda: n0.get("b1") is not None and n2.get("a2") is not None)
        await n1.shutdown()  # killed: no leave
        assert await until(lambda: n0.get("b1") is not None
                           and n0.get("b1").status is AgentStatus.OFFLINE, 10)  # type: ignore[union-attr]
        mid = await scrape(a0)
        assert fig(mid, "gossipreg_agents", status="offline") == 1  # status distribution
        assert fig(mid, "gossipreg_members", state="dead") == 1
        # a2 never beats: marked unhealthy after 1 s, deregistered after 2 s; b1 goes with n1.
        assert await until(lambda: all(n.get(x) is None for n in (n0, n2) for x in ("a2", "b1")),
                           12)
    finally:
        stop.set()
        await task
    async with aiohttp.ClientSession() as s:
        async with s.post(f"http://{a0}/ard/v1/search",
                          json={"query": {"text": "translate"}}) as r:
            assert (await r.json())["results"][0]["metadata"]["agentId"] == "a1"
        async with s.get(f"http://{a0}/v1/agents?capability=translate") as r:
            assert [a["agent_id"] for a in await r.json()] == ["a1"]
        async with s.delete(f"http://{a2}/v1/agents/a1") as r:  # forwarded to its owner
            assert (await r.json())["deregistered"] is True
    assert await until(lambda: n0.get("a1") is None and n2.get("a1") is None)

    raw: list[str] = []
    seen_before = len(events)
    after0 = await scrape(a0, raw)
    seen_after = len(events)
    assert await until_awaited(
        lambda: _settled(a2, before2), 5)  # n2 saw the last deregistration too
    after2 = await scrape(a2, raw)

    # Registrations: what n0 saw, own and peer; runtimes joined and left.
    assert moved(before0, after0, "gossipreg_agent_registrations_total", origin="own") == 2
    assert moved(before0, after0, "gossipreg_agent_registrations_total", origin="peer") == 1
    assert moved(before0, after0, "gossipreg_runtimes_joined_total") == 2
    assert moved(before0, after0, "gossipreg_runtimes_left_total") == 2
    # Deregistrations by cause, the same on every node that saw them.
    for after, before in ((after0, before0), (after2, before2)):
        for cause, n in (("deregistered", 1), ("heartbeat_expired", 1), ("owner_failed", 1),
                         ("owner_left", 0), ("moved", 0)):
            assert moved(before, after, "gossipreg_agent_deregistrations_total",
                         cause=cause) == n, cause
    # Heartbeats: the owner's figures (n0 hosts a1 and a2); n2, which hosts none, counts none.
    received = moved(before0, after0, "gossipreg_heartbeats_total", outcome="received")
    assert sent <= received <= sent + unsure
    assert moved(before0, after0, "gossipreg_heartbeats_total", outcome="missed") == 1
    assert moved(before0, after0, "gossipreg_heartbeats_total", outcome="expired") == 1
    for outcome in ("received", "missed", "expired"):
        assert moved(before2, after2, "gossipreg_heartbeats_total", outcome=outcome) == 0
    assert moved(before0, after0, "gossipreg_agent_status_changes_total", status="unhealthy",
                 cause="heartbeat_missed") == 1
    assert moved(before0, after0, "gossipreg_agent_status_changes_total", status="offline",
                 cause="owner_failed") == 1
    # One search per surface.
    assert moved(before0, after0, "gossipreg_search_duration_seconds_count",
                 surface="ard_search") == 1
    assert moved(before0, after0, "gossipreg_search_duration_seconds_count",
                 surface="capability") == 1
    # The killed node (DEAD in ``mid`` above), and its member event.
    assert moved(before0, after0, "gossipreg_events_total", type="member_failed") == 1
    # Event buffers: the stuck subscriber holds one event and dropped every other.
    assert fig(after0, "gossipreg_event_queue_depth") == 1
    assert fig(after0, "gossipreg_event_subscribers") == 1
    drops = moved(before0, after0, "gossipreg_events_dropped_total")
    assert seen_before - 1 <= drops <= seen_after - 1
    stuck.close()
    closed = await scrape(a0)
    assert fig(closed, "gossipreg_event_subscribers") == 0
    assert fig(closed, "gossipreg_events_dropped_total") == fig(
        after0, "gossipreg_events_dropped_total")  # a counter never goes back
    # What the process's memory is made of (the soak's diagnostics): all three nodes share
    # this process, so only that the figures are there and glibc's parts add up.
    assert fig(after0, "gossipreg_python_allocated_blocks") > 0
    assert fig(after0, "gossipreg_gc_objects") > 0
    arena, in_use, free = (fig(after0, "gossipreg_malloc_bytes", part=p)
                           for p in ("arena", "in_use", "free"))
    assert arena == 0 or in_use + free == arena  # 0: no mallinfo2 in this C library
    for text in raw:
        assert "_created" not in text
    await _promtool(raw[0])


async def _settled(addr: str, before: Figures) -> bool:
    return moved(before, await scrape(addr), "gossipreg_agent_deregistrations_total",
                 cause="deregistered") == 1


async def _promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    p = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await p.communicate(text.encode())
    assert p.returncode == 0, out.decode()


async def test_two_nodes_in_one_process_keep_their_series_apart() -> None:
    a = await GossipNode("x", config=NodeConfig.local()).start()
    b = await GossipNode("y", config=NodeConfig.local()).start()
    try:
        await a.register(agent_id="only-x", name="X", capabilities=["c"])
        fa, fb = await scrape(a.address), await scrape(b.address)
        assert fig(fa, "gossipreg_agent_registrations_total", origin="own") == 1
        assert fig(fb, "gossipreg_agent_registrations_total", origin="own") == 0
        assert fig(fa, "gossipreg_members", state="alive") == 1
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_select_and_send_outcomes_are_counted() -> None:
    node = await GossipNode("sel", config=NodeConfig.local()).start()
    try:
        await node.register(agent_id="fx", name="FX", capabilities=["convert currencies"])
        async with aiohttp.ClientSession() as s:
            for text in ("convert currencies", "convert currencies", "bake bread"):
                async with s.post(f"http://{node.address}/v1/select",
                                  json={"text": text}) as r:
                    await r.read()
            async with s.post(f"http://{node.address}/v1/send",
                              json={"text": "bake bread", "message": "hello"}) as r:
                await r.read()
        f = await scrape(node.address)
        assert fig(f, "gossipreg_select_total", outcome="ok") == 2
        assert fig(f, "gossipreg_select_total", outcome="not_found") == 1
        # the latency of the selections that answered with candidates
        assert fig(f, "gossipreg_search_duration_seconds_count", surface="select") == 2
        assert fig(f, "gossipreg_send_total", outcome="not_found") == 1
    finally:
        await node.shutdown()
