"""Addresses: a node bound to every interface advertises a routable address, never
an unspecified one, and the core drops any unspecified address that arrives."""

from __future__ import annotations

import random

import pytest

from gossipreg import ConfigError, GossipNode, InvalidArgumentError, NodeConfig
from gossipreg.core.node import Node, Received
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.messages import Alive, encode
from gossipreg.io.net import advertise

pytestmark = pytest.mark.network


@pytest.mark.parametrize(("addr", "want"), [
    ("0.0.0.0:7946", True), ("[::]:7946", True), ("[0:0::0]:1", True), ("::", True),
    ("10.0.0.1:7946", False), ("[::1]:7946", False), ("0.1.2.3:4", False), ("n1", False)])
def test_unspecified_addresses(addr: str, want: bool) -> None:
    assert is_unspecified(addr) is want


def test_the_core_never_takes_an_unspecified_address() -> None:
    with pytest.raises(InvalidArgumentError, match="unspecified address"):
        Node("a", "0.0.0.0:7946", NodeConfig.local(), rng=random.Random(1), now=0.0)
    node = Node("a", "10.0.0.1:7946", NodeConfig.local(), rng=random.Random(1), now=0.0)
    codec = Codec("gossipreg")
    # As the sender's own address: the packet is dropped whole, nothing learned.
    got = node.handle_packet(codec.encode("b", "0.0.0.0:7946", []), 0.1, wall=0.1)
    assert got == Received(False, "unspecified_address", None)
    assert node.read.metrics().dropped == {"unspecified_address": 1}
    # Gossiped about a third member: that message is dropped, the member never added.
    alive = encode(Alive("c", "[::]:7946", 1, 0))
    got = node.handle_packet(codec.encode("b", "10.0.0.2:7946", [alive]), 0.2, wall=0.2)
    assert got == Received(True, None, "10.0.0.2:7946")
    assert node.read.metrics().dropped["malformed_message"] == 1
    assert "c" not in {m.node_id for m in node.read.members()}


async def test_bind_everywhere_advertises_the_route_towards_the_first_seed() -> None:
    seed = await GossipNode("seed", bind="127.0.0.1:0", config=NodeConfig.local()).start()
    node = GossipNode("wild", bind="0.0.0.0:0", seeds=[seed.address],
                      config=NodeConfig.local())
    try:
        await node.start()
        port = node.transport.bind_port  # type: ignore[attr-defined]
        assert node.address == f"127.0.0.1:{port}"
        assert await node.wait_joined(5.0)
        assert await seed.wait_for(lambda: any(
            m.node_id == "wild" and m.address == node.address for m in seed.members()), 5.0)
    finally:
        await node.shutdown()
        await seed.shutdown()


async def test_bind_everywhere_without_seeds_takes_an_interface_address(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(advertise, "interface_addresses", lambda family=None: ["192.0.2.7"])
    node = await GossipNode("a", bind="0.0.0.0:0", config=NodeConfig.local()).start()
    try:
        assert node.address == f"192.0.2.7:{node.transport.bind_port}"  # type: ignore[attr-defined]
    finally:
        await node.shutdown()


async def test_bind_everywhere_with_nothing_routable_refuses_clearly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(advertise, "interface_addresses", lambda family=None: [])
    node = GossipNode("a", bind="0.0.0.0:0", config=NodeConfig.local())
    with pytest.raises(ConfigError, match=r"no routable address.*--advertise"):
        await node.start()
    assert not node.running


def test_cli_refuses_clearly(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    from gossipreg.cli.app import main

    monkeypatch.setattr(advertise, "interface_addresses", lambda family=None: [])
    assert main(["node", "--name", "a", "--bind", "0.0.0.0:0"]) == 2
    assert "pass --advertise HOST:PORT" in capsys.readouterr().err
