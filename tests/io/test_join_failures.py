"""Loud joins: every failed attempt says why, a node alone says so, a seed names
who it dropped, a duplicate name is refused, health tells joining from ok, and DNS seeds
resolve to all their addresses at each attempt."""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from gossipreg import AgentRegistry, GossipNode, JoinError, NodeConfig
from gossipreg.core.wire.keyring import Keyring
from gossipreg.io import joining

pytestmark = pytest.mark.network

CFG = NodeConfig.local()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def health(node: GossipNode, path: str = "/v1/health") -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://{node.address}{path}") as r:
        return r.status, await r.json()


def joins_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "join attempt" in r.getMessage()]


async def test_unreachable_seed_warns_per_attempt_and_health_says_joining(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(joining, "ALONE_WARNING_PERIOD", 0.3)
    seed = f"127.0.0.1:{closed_port()}"
    node = await GossipNode("a", seeds=[seed], config=CFG).start()
    try:
        with caplog.at_level(logging.WARNING):
            assert await node.wait_for(lambda: len(joins_logged(caplog)) >= 2
                                       and any("still alone" in r.getMessage()
                                               for r in caplog.records), 5.0)
        first = joins_logged(caplog)[0]
        assert seed in first and "failed" in first
        status, body = await health(node)
        assert status == 200 and body["status"] == "joining" and seed in str(body["reason"])
        status, body = await health(node, "/v1/health/ready")
        assert status == 503 and body["ready"] is False
    finally:
        await node.shutdown()


@pytest.mark.parametrize(("seed_keys", "joiner_keys", "reason"), [
    ([b"1" * 32], [b"2" * 32], "bad_mac"),
    ([b"1" * 32], None, "unsigned"),
    (None, [b"2" * 32], "unexpected_signature"),
])
async def test_a_wrong_key_is_named_on_both_sides(
        caplog: pytest.LogCaptureFixture, seed_keys: list[bytes] | None,
        joiner_keys: list[bytes] | None, reason: str) -> None:
    seed = await GossipNode("seed", config=CFG,
                            keyring=Keyring(seed_keys) if seed_keys else None).start()
    node = GossipNode("a", seeds=[seed.address], config=CFG,
                      keyring=Keyring(joiner_keys) if joiner_keys else None)
    try:
        with caplog.at_level(logging.WARNING):
            await node.start()
            assert await node.wait_for(lambda: any(
                f"refused: {reason}" in m for m in joins_logged(caplog)), 5.0)
            # The seed says who tried: the joiner's address is in its drop warning.
            assert any(r.name == "gossipreg.core.drops" and reason in r.getMessage()
                       and "127.0.0.1" in r.getMessage() for r in caplog.records)
        assert not node.core.joined and len(seed.members()) == 1
    finally:
        await node.shutdown()
        await seed.shutdown()


async def test_another_cluster_is_named(caplog: pytest.LogCaptureFixture) -> None:
    seed = await GossipNode("seed", config=NodeConfig.local(cluster="blue")).start()
    node = GossipNode("a", seeds=[seed.address], config=NodeConfig.local(cluster="green"))
    try:
        with caplog.at_level(logging.WARNING):
            await node.start()
            assert await node.wait_for(lambda: any(
                "bad_cluster" in m and "another cluster" in m for m in joins_logged(caplog)),
                5.0)
    finally:
        await node.shutdown()
        await seed.shutdown()


async def test_a_duplicate_live_name_is_refused_but_a_restart_is_accepted(
        caplog: pytest.LogCaptureFixture) -> None:
    seed = await GossipNode("seed", config=CFG).start()
    first = await GossipNode("b", seeds=[seed.address], config=CFG).start()
    assert await first.wait_joined(5.0)
    dup = GossipNode("b", seeds=[seed.address], config=CFG)
    try:
        with caplog.at_level(logging.WARNING):
            await dup.start()
            assert await dup.wait_for(lambda: dup.core.join_refused is not None, 5.0)
        assert first.address in str(dup.core.join_refused)
        assert any("refused a join as 'b'" in r.getMessage() and dup.address in r.getMessage()
                   for r in caplog.records)
        status, body = await health(dup)
        assert status == 200
        assert body["status"] == "refused" and first.address in str(body["reason"])
        # The seed still knows the first process, at its own address.
        assert {m.node_id: m.address for m in seed.members()}["b"] == first.address
        assert not dup.core.joined
    finally:
        await dup.shutdown()
    # A restart (the old process gone without a leave), at a new address: accepted at once.
    await first.shutdown()
    again = await GossipNode("b", seeds=[seed.address], config=CFG).start()
    try:
        assert await again.wait_joined(5.0)
        assert await seed.wait_for(lambda: {m.node_id: m.address for m in seed.members()}
                                   ["b"] == again.address, 5.0)
        assert again.core.join_refused is None
    finally:
        await again.shutdown()
        await seed.shutdown()


async def test_health_is_ok_once_joined_then_isolated() -> None:
    seed = await GossipNode("seed", config=CFG).start()
    node = await GossipNode("a", seeds=[seed.address], config=CFG).start()
    try:
        assert await node.wait_joined(5.0)
        status, body = await health(node, "/v1/health/ready")
        assert status == 200 and body["status"] == "ok"
        await seed.shutdown()
        assert await node.wait_for(lambda: not node.core.read.has_live_peers(), 20.0)
        status, body = await health(node)
        assert body["status"] == "isolated"
    finally:
        await node.shutdown()
        await seed.shutdown()


async def test_dns_seeds_resolve_to_every_address_and_join() -> None:
    seed = await GossipNode("seed", config=CFG).start()
    port = seed.address.rsplit(":", 1)[1]
    addrs, errors = await joining.resolve_seeds([f"localhost:{port}", "10.1.2.3:7946"])
    assert f"127.0.0.1:{port}" in addrs and "10.1.2.3:7946" in addrs and not errors
    _, errors = await joining.resolve_seeds(["no-such-host.invalid:7946"])
    assert "cannot resolve no-such-host.invalid" in errors["no-such-host.invalid:7946"]
    # Joined through a name: the answer comes from the seed's IP address, and still counts.
    node = await GossipNode("a", seeds=[f"localhost:{port}"], config=CFG).start()
    try:
        assert await node.wait_joined(5.0)
    finally:
        await node.shutdown()
        await seed.shutdown()


async def test_registry_start_requiring_the_join_says_why_it_failed() -> None:
    reg = AgentRegistry(node_config=CFG, seeds=[f"127.0.0.1:{closed_port()}"])
    with pytest.raises(JoinError, match=r"not joined within 0.5 s: 127\.0\.0\.1:\d+: "):
        await reg.start(wait_joined=0.5, require_join=True)
    assert not reg.node.running
    seed = await GossipNode("seed", config=CFG).start()
    reg2 = AgentRegistry(node_config=CFG, seeds=[seed.address])
    try:
        await reg2.start(wait_joined=5.0, require_join=True)
        assert reg2.node.core.joined
    finally:
        await reg2.shutdown()
        await seed.shutdown()


def test_cli_join_timeout_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from gossipreg.cli.app import main

    seed = f"127.0.0.1:{closed_port()}"
    code = main(["node", "--name", "a", "--bind", "127.0.0.1:0", "--profile", "local",
                 "--join", seed, "--join-timeout", "0.5"])
    captured = capsys.readouterr()
    assert code == 1
    assert "advertising 127.0.0.1:" in captured.out
    assert f"no seed answered within 0.5 s: {seed}:" in captured.err


async def test_cli_node_exits_non_zero_when_its_name_is_taken() -> None:
    import asyncio
    import sys

    seed = await GossipNode("seed", config=CFG).start()
    first = await GossipNode("b", seeds=[seed.address], config=CFG).start()
    try:
        assert await first.wait_joined(5.0)
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gossipreg", "node", "--name", "b", "--bind", "127.0.0.1:0",
            "--profile", "local", "--join", seed.address,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(p.communicate(), 30)
        assert p.returncode == 1
        assert f"join refused: node name 'b' is already used by a live node at {first.address}" \
            in err.decode()
    finally:
        await first.shutdown()
        await seed.shutdown()


def test_drop_warnings_name_the_sender_and_stay_bounded(
        caplog: pytest.LogCaptureFixture) -> None:
    from gossipreg.core.metrics import DROP_LOG_SENDERS, Metrics

    m = Metrics()
    with caplog.at_level(logging.WARNING, logger="gossipreg.core.drops"):
        m.drop("bad_mac", 0.0, "10.0.0.9")
        m.drop("bad_mac", 0.1, "10.0.0.9")  # same sender, same period: one line
        assert len(caplog.records) == 1
        assert "from 10.0.0.9: bad_mac (its key is not in our keyring)" in caplog.records[0].msg \
            % caplog.records[0].args
        for i in range(100):  # a crowd of senders: bounded lines per period
            m.drop("bad_mac", 0.2, f"10.0.1.{i}")
        assert len(caplog.records) == DROP_LOG_SENDERS
        m.drop("bad_mac", 11.0, "10.0.0.9")  # the next period logs again
        assert len(caplog.records) == DROP_LOG_SENDERS + 1
    assert m.dropped["bad_mac"] == 103
