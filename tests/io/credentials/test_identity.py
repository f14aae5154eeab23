"""Node identities over real HTTP (in-process nodes on 127.0.0.1 port 0, bounded waits): the key
file is made at the first start (0600 in a 0700 directory) and kept; a restart with the same
key file keeps the name, and so does a rotation (the node's new key, endorsed by the old one,
then a restart with the rotated file); a new key without a rotation is refused by every node
that pinned the old one, with a message naming the way out (``forget-node``, token-guarded, on
each such node), after which the name is taken again. Pins outlive a restart (identity.pin)."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gossipreg import ConfigError, GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from gossipreg.io.api.admin import setup_admin
from gossipreg.io.credentials.identity import NodeIdentity
from gossipreg.io.net.transport import HttpTransport
from tests.support import until

pytestmark = pytest.mark.network

TOKEN = "t"
CFG = NodeConfig.local(heartbeat_timeout=None)


def test_the_key_file_is_made_once_and_kept_and_a_foreign_pin_file_is_refused(
        tmp_path: Path) -> None:
    path = tmp_path / "data" / "identity.key"
    ident = NodeIdentity(path, node="a", cluster="c")
    first = ident.load().signer.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert NodeIdentity(path, node="a", cluster="c").load().signer.public_key == first
    assert ident.save_pins({"b": bytes(32)}, 1) and not ident.save_pins({"b": bytes(32)}, 1)
    assert NodeIdentity(path, node="a", cluster="c").load_pins() == {"b": bytes(32)}
    with pytest.raises(ConfigError, match="belongs to node 'a' of cluster 'c'"):
        NodeIdentity(path, node="x", cluster="c").load_pins()
    rotated = ident.rotate()
    assert rotated.rotation is not None and rotated.signer.public_key != first
    again = NodeIdentity(path, node="a", cluster="c").load()
    assert (again.signer.public_key, again.rotation) == (rotated.signer.public_key,
                                                         rotated.rotation)


class Mesh:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nodes: dict[str, GossipNode] = {}

    def key_file(self, name: str) -> str:
        return str(self.tmp / name / "identity.key")

    async def start(self, name: str) -> GossipNode:
        seeds = [n.address for k, n in self.nodes.items() if k != name and n.running][:1]
        node = GossipNode(name, config=CFG, seeds=seeds, token=TOKEN,
                          identity_file=self.key_file(name))
        assert isinstance(node.transport, HttpTransport)
        setup_admin(node.transport.app, node, token=TOKEN, reloader=None)  # as the CLI does
        await node.start()
        self.nodes[name] = node
        return node

    def seen(self, name: str) -> dict[str, tuple[int, MemberState]]:
        """How the other nodes hold ``name``: (generation, state) by observer."""
        out = {}
        for k, n in self.nodes.items():
            if k != name and n.running:
                m = {i.node_id: i for i in n.members()}.get(name)
                if m is not None:
                    out[k] = (m.generation, m.state)
        return out

    async def alive_everywhere(self, name: str, generation: int) -> bool:
        # (Up to a push-pull round and more: a node that hears the news before an operator's
        # forget-node takes it from a later table exchange.)
        return await until(lambda: self.seen(name) == dict.fromkeys(
            [k for k in self.nodes if k != name], (generation, MemberState.ALIVE)), 20.0)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    m = Mesh(tmp_path)
    try:
        for name in ("A", "B", "C"):
            await m.start(name)
        yield m
    finally:
        for n in m.nodes.values():
            await n.shutdown()


async def test_restart_and_rotation_keep_the_name_a_new_key_is_refused_until_forgotten(
        mesh: Mesh, caplog: pytest.LogCaptureFixture) -> None:
    b = mesh.nodes["B"]
    assert await mesh.alive_everywhere("B", b.core.generation)
    assert await until(lambda: all(set(n.core.pinned()[0]) == set(mesh.nodes) - {k}
                                   for k, n in mesh.nodes.items()), 10.0)
    key1 = NodeIdentity(mesh.key_file("B"), node="B", cluster=CFG.cluster).load()
    # A restart with the same key file: a new generation under the same name.
    await b.shutdown()
    b = await mesh.start("B")
    assert await mesh.alive_everywhere("B", b.core.generation)
    # A rotation while running: every node takes the new key (signed by the old one).
    new_key = b.rotate_identity()
    assert new_key != key1.signer.public_key
    assert await until(lambda: all(n.core.pinned()[0].get("B") == new_key
                                   for k, n in mesh.nodes.items() if k != "B"), 10.0)
    # ... and the rotated key file keeps the name across a restart.
    await b.shutdown()
    b = await mesh.start("B")
    assert await mesh.alive_everywhere("B", b.core.generation)
    old_generation = b.core.generation
    # A new key without a rotation (the key file lost and made again): refused.
    await b.shutdown()
    Path(mesh.key_file("B")).unlink()
    Path(mesh.key_file("B") + ".rotation").unlink()
    caplog.set_level(logging.WARNING)
    b = await mesh.start("B")
    assert await until(lambda: mesh.nodes["A"].core.metrics.dropped.get("key_mismatch", 0) > 0,
                       10.0)  # its seed (B learns of no other node: it is not let in)
    assert all(g == old_generation for g, _ in mesh.seen("B").values()), mesh.seen("B")
    said = caplog.text
    assert "gossipreg admin forget-node B" in said  # the refusing nodes' log
    assert "refuses this node" in said and "forget-node NAME" in said  # B's own log
    # The way out: each node that pinned the old key forgets it (the token is required).
    async with aiohttp.ClientSession() as http:
        for k in ("A", "C"):
            url = f"http://{mesh.nodes[k].address}/v1/admin/forget-node"
            async with http.post(url, json={"name": "B"}) as r:
                assert r.status == 401
            async with http.post(url, json={"name": "B"},
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200 and (await r.json())["forgotten"] is True
    assert await mesh.alive_everywhere("B", b.core.generation), mesh.seen("B")
    # The pins outlive a restart of the node that holds them.
    a = mesh.nodes["A"]
    pins = json.loads((Path(mesh.key_file("A")).with_suffix(".pin")).read_text())["pins"]
    assert set(pins) == {"B", "C"}
    assert a.core.pinned()[0]["B"] == b.core.trust.public_key  # type: ignore[union-attr]
