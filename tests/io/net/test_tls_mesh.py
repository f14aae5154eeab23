"""TLS: a mesh whose nodes hold certificates from a test CA made here talks HTTPS
only (mutual TLS between nodes: every gossip POST is https and every link wss, each presenting
a certificate; no datagrams are offered); a node
with a certificate from another CA, or without TLS, is refused; the CLI reaches a TLS node."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.cli.app import main
from gossipreg.core.wire.tags import Feature
from gossipreg.io.net.tls import apply_tls
from gossipreg.io.net.transport import HttpTransport
from tests.tlsca import have_openssl, make_ca, make_cert

pytestmark = pytest.mark.network

if not have_openssl():
    if os.environ.get("CI") == "true":
        pytest.fail("the TLS tests need the openssl command under CI", pytrace=False)
    pytest.skip("TLS tests skipped: no openssl command", allow_module_level=True)

CFG = NodeConfig.local()


def tls_node(name: str, files: tuple[Path, Path], ca: Path | None,
             seeds: list[str] | None = None) -> GossipNode:
    node = GossipNode(name, config=CFG, seeds=seeds or [])
    assert isinstance(node.transport, HttpTransport)
    apply_tls(node.transport, str(files[0]), str(files[1]), str(ca) if ca else None)
    return node


def record_urls(node: GossipNode) -> list[str]:
    """Every URL the node's transport posts to or opens a link to from now on (started)."""
    urls: list[str] = []
    for session, method in ((node.transport._session, "post"),  # type: ignore[attr-defined]
                            (node.transport.links._session,  # type: ignore[attr-defined]
                             "ws_connect")):
        call = getattr(session, method)

        def spy(url: str, call: Any = call, **kw: Any) -> Any:
            urls.append(url)
            return call(url, **kw)

        setattr(session, method, spy)
    return urls


async def test_a_mutual_tls_mesh_and_who_it_refuses(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    ca = make_ca(tmp_path, "good")
    rogue_ca = make_ca(tmp_path, "rogue")
    certs = [make_cert(tmp_path, ca, f"n{i}") for i in range(3)]
    rogue = make_cert(tmp_path, rogue_ca, "rogue")
    first = await tls_node("n0", certs[0], ca[0]).start()
    nodes = [first]
    urls = record_urls(first)
    try:
        for i in (1, 2):
            nodes.append(await tls_node(f"n{i}", certs[i], ca[0], [first.address]).start())
        assert await first.wait_for(lambda: all(
            len([m for m in n.members() if m.state == 0]) == 3 for n in nodes), 10.0)
        await nodes[1].register(agent_id="secret", capabilities=["python"])
        assert await first.wait_for(lambda: all(n.get("secret") for n in nodes), 10.0)
        # Gossip between nodes: HTTPS posts and links over TLS (wss), never a datagram.
        assert urls and all(u.startswith(("https://", "wss://")) for u in urls), urls
        assert all(n.transport.features == Feature.STREAM for n in nodes)
        assert all(not n.transport.stats()["frames_by_path"].get("datagram")  # type: ignore[attr-defined]
                   for n in nodes)
        async with aiohttp.ClientSession() as s:  # plaintext gets nothing
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"http://{first.address}/v1/health") as r:
                    await r.read()
        with caplog.at_level(logging.WARNING):
            # A certificate from another CA: the handshake fails both ways.
            bad = await tls_node("rogue", rogue, rogue_ca[0], [first.address]).start()
            # No TLS at all: plaintext to an HTTPS port.
            plain = await GossipNode("plain", config=CFG, seeds=[first.address]).start()
            try:
                assert await first.wait_for(lambda: sum(
                    "join attempt" in r.getMessage() and "failed" in r.getMessage()
                    for r in caplog.records) >= 2, 10.0)
                # Both join attempts were refused at the handshake: nothing reached the mesh.
                assert {m.node_id for m in first.members()} == {"n0", "n1", "n2"}
                assert not bad.core.joined and not plain.core.joined
            finally:
                await bad.shutdown()
                await plain.shutdown()
        code = await asyncio.to_thread(main, ["health", "--node", first.address,
                                              "--tls-ca", str(ca[0])])
        assert code == 0 and "ok (3 members alive" in capsys.readouterr().out
    finally:
        for n in nodes:
            await n.shutdown()


async def test_gossip_needs_a_client_certificate(tmp_path: Path) -> None:
    """A client that verifies the server but presents no certificate (not a node) is refused
    by the gossip endpoint, while the API stays reachable with TLS alone."""
    ca = make_ca(tmp_path, "good")
    node = await tls_node("n0", make_cert(tmp_path, ca, "n0"), ca[0]).start()
    try:
        import ssl

        ctx = ssl.create_default_context(cafile=str(ca[0]))
        async with aiohttp.ClientSession() as s:
            async with s.post(f"https://{node.address}/v1/gossip", data=b"x", ssl=ctx) as r:
                assert r.status == 403
                assert r.headers["X-Gossipreg-Refused"] == "no_client_certificate"
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:  # no link either
                await s.ws_connect(f"wss://{node.address}/v1/gossip/ws", ssl=ctx)
            assert e.value.status == 403
            async with s.get(f"https://{node.address}/v1/health", ssl=ctx) as r:
                assert r.status == 200
    finally:
        await node.shutdown()
