"""Real nodes over aiohttp on 127.0.0.1 (port 0) in one process: dissemination, failure,
leave, the HTTP API, key rotation, wrong keys and clusters, and hostile input. Bounded waits."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gossipreg import AgentRegistry, AgentStatus, GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.keyring import Keyring
from tests.support import until

pytestmark = pytest.mark.network

FAST = dict(heartbeat_timeout=None, auto_deregister_timeout=3.0)
KEY1, KEY2 = b"1" * 32, b"2" * 32




async def mesh(n: int, keys: list[bytes] | None = None, **cfg: Any) -> list[GossipNode]:
    config = NodeConfig.local(**{**FAST, **cfg})
    first = GossipNode("n0", config=config, keyring=Keyring(keys) if keys else None)
    await first.start()
    nodes = [first]
    for i in range(1, n):
        node = GossipNode(f"n{i}", config=config, seeds=[first.address],
                          keyring=Keyring(keys) if keys else None)
        await node.start()
        nodes.append(node)
    assert await until(lambda: all(
        sum(m.state is MemberState.ALIVE for m in x.members()) == n for x in nodes))
    return nodes


@pytest.fixture
async def nodes() -> AsyncIterator[list[GossipNode]]:
    ns = await mesh(4)
    yield ns
    for n in ns:
        await n.shutdown()


async def test_registration_found_everywhere_then_crash_and_leave(
        nodes: list[GossipNode]) -> None:
    a, b, c, d = nodes
    await b.register(agent_id="x1", name="X", runtime_id="rt-b", capabilities=["Python code"])
    assert await until(lambda: all(n.find("python") for n in nodes), 3.0)
    assert [v.node_id for v in d.find("python")] == ["n1"]
    # A crash: the node vanishes without a word.
    await b.shutdown()
    assert await until(lambda: all(
        (v := n.get("x1")) is not None and v.status is AgentStatus.OFFLINE
        for n in (a, c, d)), 8.0)
    assert all(m.state is MemberState.DEAD for m in a.members() if m.node_id == "n1")
    assert await until(lambda: all(n.get("x1") is None for n in (a, c, d)), 8.0)
    # A graceful leave: LEFT at once, never reported as a failure.
    await d.register(agent_id="y1", name="Y", runtime_id="rt-d", capabilities=["z"])
    assert await until(lambda: a.get("y1") is not None, 3.0)
    failed: list[str] = []
    a.add_listener(lambda ev: failed.append(ev.metadata.get("node_id", ""))
                   if ev.event_type.value in ("member_failed", "member_suspect") else None)
    await d.leave()
    assert await until(lambda: a.get("y1") is None and c.get("y1") is None, 2.0)
    # LEFT is final for that run of n3 (no later SUSPECT or DEAD replaces it), so once both
    # peers hold it LEFT, a failure report could only have come before.
    assert await until(lambda: all(any(m.node_id == "n3" and m.state is MemberState.LEFT
                                       for m in n.members()) for n in (a, c)), 2.0)
    await d.shutdown()
    assert "n3" not in failed


async def test_ipv6_and_advertise_address() -> None:
    try:
        n6 = await GossipNode("v6", bind="[::1]:0", config=NodeConfig.local()).start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    n4 = GossipNode("v4", bind="127.0.0.1:0", config=NodeConfig.local(), seeds=[n6.address])
    try:
        assert n6.address.startswith("[::1]:")
        await n4.start()
        assert await until(lambda: len(n6.members()) == 2 and len(n4.members()) == 2, 5.0)
    finally:
        await n4.shutdown()
        await n6.shutdown()
    # Advertise: peers are told another (reachable) address than the bind one.
    port = n6.transport.bind_port  # type: ignore[attr-defined]
    adv = GossipNode("adv", bind="0.0.0.0:0", config=NodeConfig.local())
    await adv.start()
    try:
        # Bound everywhere with no --advertise: a routable address is advertised.
        assert not adv.address.startswith("0.0.0.0:")
        adv2 = GossipNode("adv2", bind="0.0.0.0:0", advertise=f"127.0.0.1:{port}",
                          config=NodeConfig.local())
        assert adv2.transport.advertise == f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    finally:
        await adv.shutdown()


async def test_registry_mesh_mode_over_http() -> None:
    cfg = NodeConfig.local(heartbeat_timeout=None)
    r1 = AgentRegistry(node_config=cfg, name="r1")
    await r1.start()
    r2 = AgentRegistry(node_config=cfg, name="r2", seeds=[r1.node.address])
    r3 = AgentRegistry(node_config=cfg, name="r3", seeds=[r1.node.address])
    await r2.start()
    await r3.start()
    try:
        from types import SimpleNamespace

        await r1.register_agent(SimpleNamespace(name="Coder", capabilities=["code"]), "rt1",
                                agent_id="c")
        await r2.register_agent(SimpleNamespace(name="Writer", capabilities=["writing"]),
                                "rt2", agent_id="w")
        assert await until(lambda: set(r3.agents) == {"c", "w"})
        assert [m.agent_id for m in await r3.find_agents_by_capability("code")] == ["c"]
        assert (await r3.get_agent("c")).node_id == "r1"  # type: ignore[union-attr]
        assert await r3.update_agent_heartbeat("c") is True  # forwarded to r1
        assert await until(lambda: r2.agents.get("c") is not None
                           and r2.agents["c"].heartbeat_count == 1)
        assert await r3.update_agent_status("w", AgentStatus.DEGRADED) is True
        assert await until(lambda: r1.agents["w"].status is AgentStatus.DEGRADED)
        assert await r3.deregister_agent("w", "rt2") is True  # forwarded to r2
        assert await until(lambda: "w" not in r1.agents and "w" not in r2.agents)
    finally:
        for r in (r3, r2, r1):
            await r.shutdown()


async def test_http_api(nodes: list[GossipNode]) -> None:
    a, b = nodes[0], nodes[1]
    base = f"http://{a.address}"
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/v1/agents", json={
                "agent_id": "h1", "name": "H", "runtime_id": "side",
                "capabilities": ["translation"], "tags": ["eu"]}) as r:
            assert r.status == 201
            assert (await r.json())["node_id"] == "n0"
        assert await until(lambda: b.get("h1") is not None)
        async with s.get(f"http://{b.address}/v1/agents",
                         params={"capability": "TRANS", "status": "any"}) as r:
            rows = await r.json()
            assert [x["agent_id"] for x in rows] == ["h1"]
            assert {"agent_id", "name", "runtime_id", "node_id", "capabilities", "status",
                    "last_heartbeat"} <= set(rows[0])
        async with s.get(f"{base}/v1/agents/h1") as r:
            assert r.status == 200
        async with s.get(f"{base}/v1/agents/nope") as r:
            assert r.status == 404
        async with s.post(f"http://{b.address}/v1/agents/h1/heartbeat") as r:
            assert (await r.json()) == {"ok": True}
        async with s.put(f"{base}/v1/agents/h1/status", json={"status": "degraded"}) as r:
            assert r.status == 200
        async with s.get(f"{base}/v1/members") as r:
            members = await r.json()
            assert {m["node_id"] for m in members} == {"n0", "n1", "n2", "n3"}
            assert {"node_id", "address", "state", "incarnation"} <= set(members[0])
        async with s.get(f"{base}/v1/health") as r:
            assert (await r.json())["status"] == "ok"
        async with s.get(f"{base}/metrics") as r:
            text = await r.text()
            assert re.search(r'^gossipreg_members\{state="alive"\} 4(\.0)?$', text, re.M)
            assert "# TYPE gossipreg_packets_in_total counter" in text
        # Bad input: always a 4xx with a message, never a 5xx.
        bad_bodies: list[Any] = [b"not json", b"[]", b"{}", json.dumps({"agent_id": 5}).encode(),
                                 json.dumps({"agent_id": "x" * 1000}).encode(),
                                 json.dumps({"agent_id": "ok", "capabilities": "str"}).encode(),
                                 json.dumps({"agent_id": "ok", "capabilities": [1]}).encode(),
                                 json.dumps({"agent_id": "ok", "bogus": 1}).encode(),
                                 json.dumps({"agent_id": "h1"}).encode()]
        rng = random.Random(7)
        bad_bodies += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
                       for _ in range(20)]
        for body in bad_bodies:
            async with s.post(f"{base}/v1/agents", data=body) as r:
                assert 400 <= r.status < 500, (body, r.status)
                assert "error" in await r.json()
        async with s.put(f"{base}/v1/agents/h1/status", json={"status": "weird"}) as r:
            assert r.status == 400
        async with s.get(f"{base}/v1/agents", params={"limit": "-1"}) as r:
            assert r.status == 400
        async with s.delete(f"http://{b.address}/v1/agents/h1") as r:
            assert (await r.json()) == {"deregistered": True}
        assert await until(lambda: a.get("h1") is None)


async def test_events_stream_and_token() -> None:
    node = GossipNode("tok", config=NodeConfig.local(), token="s3cret")
    await node.start()
    try:
        base = f"http://{node.address}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/v1/agents") as r:
                assert r.status == 401
            hdr = {"Authorization": "Bearer s3cret"}
            async with s.get(f"{base}/v1/events", headers=hdr) as r:
                assert r.status == 200
                await node.register(agent_id="e1", name="E", runtime_id="rt", capabilities=["x"])
                lines = []
                async for raw in r.content:
                    if raw.startswith(b"data: "):
                        lines.append(json.loads(raw[6:]))
                        if len(lines) == 2:
                            break
                assert [x["event_type"] for x in lines] == ["runtime_joined",
                                                            "agent_registered"]
    finally:
        await node.shutdown()


async def test_key_rotation_without_lost_packets() -> None:
    ns = await mesh(3, keys=[KEY1])
    try:
        def drops() -> int:
            return sum(sum(n.core.read.metrics().dropped.values()) for n in ns)

        for step, op in enumerate(("install", "use", "remove")):
            for n in ns:
                if op == "install":
                    n.install_key(KEY2)
                elif op == "use":
                    n.use_key(KEY2)
                else:
                    n.remove_key(KEY1)
                await asyncio.sleep(0.05)
            await ns[step].register(agent_id=f"k{step}", name="K", runtime_id="rt",
                                    capabilities=["c"])
            assert await until(lambda s=step: all(n.get(f"k{s}") for n in ns), 3.0)
            assert drops() == 0, {n.name: n.core.read.metrics().dropped for n in ns}
    finally:
        for n in ns:
            await n.shutdown()


@pytest.mark.parametrize("intruder", ["wrong-key", "wrong-cluster", "no-key"])
async def test_outsiders_cannot_join_or_write(intruder: str) -> None:
    ns = await mesh(3, keys=[KEY1])
    cfg = NodeConfig.local(cluster="other" if intruder == "wrong-cluster" else "gossipreg")
    ring = None if intruder == "no-key" else Keyring([KEY2 if intruder == "wrong-key" else KEY1])
    bad = GossipNode("intruder", config=cfg, keyring=ring, seeds=[ns[0].address])
    await bad.start()
    try:
        await bad.register(agent_id="evil", name="E", runtime_id="rt", capabilities=["x"])
        want = {"wrong-key": "bad_mac", "wrong-cluster": "bad_cluster", "no-key": "unsigned"}

        def dropped(reason: str) -> int:
            return sum(n.core.read.metrics().dropped.get(reason, 0) for n in ns)

        # Several of its join attempts and gossip packets have been refused, none let in.
        assert await until(lambda: dropped(want[intruder]) >= 3, 5.0)
        for n in ns:
            assert "intruder" not in {m.node_id for m in n.members()}
            assert n.get("evil") is None
    finally:
        await bad.shutdown()
        for n in ns:
            await n.shutdown()


async def test_hostile_input_changes_nothing(nodes: list[GossipNode]) -> None:
    target = nodes[0]
    core = target.core
    before = (core.read.replica_state(),
              sorted((m.node_id, m.state, m.incarnation) for m in core.read.members()))
    codec = Codec("gossipreg")
    signed = [  # valid frames whose messages carry hostile values
        codec.encode("x", "127.0.0.1:1", [[1, -5, "n0"]]),
        codec.encode("x", "127.0.0.1:1", [[9, "n0", 1, "agent/a", 1, False, ["junk"], []]]),
        codec.encode("x", "127.0.0.1:1", [[9, "n1", 1, "weird/a", 1, False, None, [5]]]),
        codec.encode("x", "127.0.0.1:1", [[6, "n1", "gen", 0, "x"]]),
        codec.encode("x", "127.0.0.1:1", [[99, "future message"]]),
        codec.encode("x", "127.0.0.1:1", [[7, "n" * 300, 1, 1, "x"]]),
        codec.encode("x", "127.0.0.1:1", [[11, 1, [["n1", 1, 0, 0, True, [["agent/q", 1, False,
                                                                           [1] * 11]], None, 0]],
                                           None, None, False]]),
    ]
    rng = random.Random(3)
    junk = [os.urandom(rng.randrange(1, 200)) for _ in range(30)]
    captured = codec.encode("n1", nodes[1].address, [[2, 12345]])
    dropped0 = core.read.metrics().dropped_total
    async with aiohttp.ClientSession() as s:
        url = f"http://{target.address}/v1/gossip"
        for body in [*junk, *signed, captured, captured, b"GR\x01\x00" + b"\xc1" * 10]:
            async with s.post(url, data=body) as r:
                assert r.status in (200, 204)
        async with s.post(url, data=b"\0" * (2 * 1024 * 1024)) as r:
            assert r.status == 413
        async with s.get(f"http://{target.address}/v1/health") as r:
            assert r.status == 200
    after = (core.read.replica_state(),
             sorted((m.node_id, m.state, m.incarnation) for m in core.read.members()))
    assert after == before
    assert core.read.metrics().dropped_total - dropped0 >= len(junk) + len(signed) - 1
    assert {"bad_magic", "malformed_message", "unknown_type"} <= set(core.read.metrics().dropped)
