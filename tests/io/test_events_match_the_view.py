"""Two reproductions over real HTTP (2 nodes on 127.0.0.1, port 0): a peer's
stream tells no phantom status change before a deregistration, and a declaration survives the
owner's resumed heartbeats. Bounded waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gossipreg import AgentStatus, GossipNode
from tests._meshkit import Held, SseCollector, http_mesh, until

pytestmark = pytest.mark.network


@pytest.fixture
async def pair() -> AsyncIterator[list[GossipNode]]:
    nodes = await http_mesh(["owner", "peer"], heartbeat_timeout=None,
                            auto_deregister_timeout=30.0)
    yield nodes
    for n in nodes:
        await n.shutdown()


def _statuses(c: SseCollector, agent_id: str) -> list[tuple[str, str, str]]:
    return [(d["metadata"]["old_status"], d["metadata"]["new_status"], d["metadata"]["cause"])
            for d in c.of("agent_status_changed", agent_id)]


async def test_peer_stream_has_no_status_event_for_a_deregistered_agent(
        pair: list[GossipNode]) -> None:
    owner, peer = pair
    watch = await SseCollector(f"http://{peer.address}/v1/events").start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{owner.address}") as http:
            r = await http.post("/v1/agents", json={"agent_id": "x", "capabilities": ["c"]})
            assert r.status_code == 201
            assert await until(lambda: peer.get("x") is not None, 5.0)
            r = await http.put("/v1/agents/x/status",
                               json={"status": "degraded", "reason": "slow disk"})
            assert r.status_code == 200 and r.json()["ok"]
            assert await until(lambda: (v := peer.get("x")) is not None
                               and v.status is AgentStatus.DEGRADED, 5.0)
            assert (await http.delete("/v1/agents/x")).status_code == 200
        assert await until(lambda: bool(watch.of("agent_deregistered", "x")), 5.0)
    finally:
        await watch.stop()
    assert _statuses(watch, "x") == [("active", "degraded", "status_write")]
    assert watch.of("agent_status_changed", "x")[0]["metadata"]["reason"] == "slow disk"
    [gone] = watch.of("agent_deregistered", "x")
    assert gone["metadata"]["cause"] == "deregistered"


async def test_peer_stream_after_heartbeats_stop_until_expiry() -> None:
    owner, peer = await http_mesh(["owner", "peer"], heartbeat_timeout=0.3,
                                  auto_deregister_timeout=1.0)
    watch = await SseCollector(f"http://{peer.address}/v1/events").start()
    try:
        await owner.register(agent_id="x", name="X", runtime_id="rt", capabilities=["c"])
        assert await until(lambda: bool(watch.of("agent_deregistered", "x")), 8.0)
    finally:
        await watch.stop()
        await owner.shutdown()
        await peer.shutdown()
    assert _statuses(watch, "x") == [("active", "unhealthy", "heartbeat_missed")]
    [gone] = watch.of("agent_deregistered", "x")
    assert gone["metadata"]["cause"] == "heartbeat_expired"


async def test_a_declaration_survives_the_owners_resumed_heartbeat() -> None:
    owner, peer = await http_mesh(["owner", "peer"], heartbeat_timeout=0.4,
                                  auto_deregister_timeout=60.0)
    try:
        await owner.register(agent_id="x", name="X", runtime_id="rt", capabilities=["c"])
        assert await until(lambda: (v := peer.get("x")) is not None
                           and v.status is AgentStatus.UNHEALTHY, 5.0)
        held = Held(owner, "peer")  # the peer's writes do not reach the owner meanwhile
        async with httpx.AsyncClient() as http:
            r = await http.put(f"http://{peer.address}/v1/agents/x/status",
                               json={"status": "degraded"})
            assert r.json()["ok"]
            r = await http.post(f"http://{owner.address}/v1/agents/x/heartbeat")
            assert r.json()["ok"]
        # The owner applied the heartbeat before it could see the DEGRADED.
        own = owner.get("x")
        assert own is not None and own.heartbeat_count == 1
        assert own.status is AgentStatus.ACTIVE  # its verdict withdrawn, nothing else seen
        assert await until(lambda: (v := peer.get("x")) is not None
                           and v.heartbeat_count == 1, 5.0)
        v = peer.get("x")
        assert v is not None and v.status is AgentStatus.DEGRADED
        held.release()
        assert held.dropped > 0
        assert await until(lambda: (v := owner.get("x")) is not None
                           and v.status is AgentStatus.DEGRADED, 10.0)
        assert [n.get("x").status for n in (owner, peer)] == [AgentStatus.DEGRADED] * 2  # type: ignore[union-attr]
    finally:
        await owner.shutdown()
        await peer.shutdown()
