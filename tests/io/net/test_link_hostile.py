"""Hostile input on the new paths is dropped and counted and never blocks the node: garbage,
oversized and wrongly keyed datagrams and link frames, text frames, a flood of datagrams (from
another process), a flood of links (capped, idle ones closed), and a peer that stops reading
(its link's queue stays bounded, the stalled link is aborted and reported unreachable).
Bounded waits; nothing asserts a timing."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.keyring import Keyring
from gossipreg.core.wire.probes import Ping
from gossipreg.core.wire.tags import Feature
from gossipreg.io.net.links import LinkOptions
from gossipreg.io.net.links_transport import LinkTransport
from gossipreg.io.validate import split_hostport
from tests.support import until

pytestmark = pytest.mark.network

CFG = NodeConfig.local(heartbeat_timeout=None)
KEY, WRONG = b"k" * 32, b"w" * 32


def transport(node: GossipNode) -> LinkTransport:
    assert isinstance(node.transport, LinkTransport)
    return node.transport


def dropped(node: GossipNode, reason: str) -> int:
    return node.read.metrics().dropped.get(reason, 0)


def alive(node: GossipNode, name: str) -> bool:
    return {m.node_id: m.state for m in node.members()}.get(name) is MemberState.ALIVE


@pytest.fixture
async def pair() -> AsyncIterator[tuple[GossipNode, GossipNode]]:
    """A keyed node under attack and a peer that watches it stay ALIVE."""
    n = await GossipNode("target", config=CFG, keyring=Keyring([KEY])).start()
    p = await GossipNode("peer", config=CFG, keyring=Keyring([KEY]), seeds=[n.address]).start()
    assert await until(lambda: alive(n, "peer") and alive(p, "target"))
    yield n, p
    await p.shutdown()
    await n.shutdown()


def wrong_key_frame() -> bytes:
    return Codec(CFG.cluster, Keyring([WRONG])).encode("mallory", "127.0.0.1:9",
                                                       [Ping(1, "target").to_wire()])


async def test_bad_datagrams_are_dropped_and_counted(pair: tuple[GossipNode, GossipNode]) -> None:
    n, p = pair
    host, port = split_hostport(n.address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(50):
            s.sendto(b"junk", (host, port))
        s.sendto(b"GR\x01\x01" + b"\x00" * 40, (host, port))  # signed, but no real MAC
        s.sendto(wrong_key_frame(), (host, port))
        s.sendto(b"GR" + b"x" * (CFG.max_datagram_size + 100), (host, port))
    assert await until(lambda: dropped(n, "bad_magic") >= 50 and dropped(n, "bad_mac") >= 2
                       and transport(n).udp is not None
                       and transport(n).udp.dropped["oversized_in"] >= 1)  # type: ignore[union-attr]
    assert alive(p, "target") and alive(n, "peer")
    async with aiohttp.ClientSession() as s, s.get(f"http://{n.address}/metrics") as r:
        text = await r.text()
    assert 'gossipreg_transport_dropped_total{path="datagram",reason="oversized_in"} ' in text
    assert 'gossipreg_transport_frames_sent_total{path="datagram"} ' in text


async def test_a_datagram_flood_from_another_process_never_blocks_the_node(
        pair: tuple[GossipNode, GossipNode]) -> None:
    n, p = pair
    host, port = split_hostport(n.address)
    flood = subprocess.Popen([sys.executable, "-c", (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for i in range(40000): s.sendto(b'flood' * 20, ({host!r}, {port}))\n")])
    try:
        # While it floods, the node keeps gossiping: a write reaches the peer.
        await n.register(agent_id="during-flood", capabilities=["x"])
        assert await until(lambda: p.get("during-flood") is not None, 20.0)
        await asyncio.to_thread(flood.wait, 60)
    finally:
        flood.kill()
    assert await until(lambda: dropped(n, "bad_magic") > 1000)
    assert await until(lambda: alive(p, "target") and alive(n, "peer"))
    assert {m.node_id: m.state for m in p.members()}["target"] is not MemberState.DEAD


async def test_bad_link_frames_are_dropped_counted_and_close_the_link_when_hostile(
        pair: tuple[GossipNode, GossipNode]) -> None:
    n, p = pair
    links = transport(n).links
    assert links is not None
    url = f"http://{n.address}/v1/gossip/ws"
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:  # garbage binary: the node drops it, link stays
            before = dropped(n, "bad_magic")
            await ws.send_bytes(b"garbage")
            await ws.send_bytes(b"more garbage")
            assert await until(lambda: dropped(n, "bad_magic") >= before + 2)
            await ws.send_str("text")  # not a frame at all: closed
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1003
        assert links.dropped["text_frame"] == 1
        async with s.ws_connect(url, max_msg_size=0) as ws:  # oversized: closed
            await ws.send_bytes(b"GR" + b"x" * links.opts.max_msg)
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1009
        assert links.dropped["oversized"] == 1
        async with s.ws_connect(url) as ws:  # the wrong key: refused with the reason
            await ws.send_bytes(wrong_key_frame())
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4403
            assert msg.extra == "bad_mac"
        assert links.dropped["refused"] == 1
    assert alive(p, "target") and alive(n, "peer")


async def test_a_flood_of_links_is_capped_and_idle_links_are_closed() -> None:
    t = LinkTransport("127.0.0.1:0", links=LinkOptions(max_inbound=4, idle=0.5))
    n = await GossipNode("capped", config=CFG, transport=t).start()
    try:
        async with aiohttp.ClientSession() as s:
            opened, refused = [], 0
            for _ in range(10):
                try:
                    opened.append(await s.ws_connect(f"http://{n.address}/v1/gossip/ws"))
                except aiohttp.WSServerHandshakeError as e:
                    assert e.status == 503
                    refused += 1
            assert len(opened) == 4 and refused == 6
            assert t.links is not None and t.links.dropped["inbound_cap"] == 6
            # Silent links are closed by the node once idle.
            for ws in opened:
                msg = await asyncio.wait_for(ws.receive(), 10.0)
                assert msg.type is aiohttp.WSMsgType.CLOSE
            assert await until(lambda: t.links is not None and t.links.open_links == (0, 0))
    finally:
        await n.shutdown()


async def test_a_peer_that_stops_reading_holds_a_bounded_queue_and_is_cut_off() -> None:
    async def never_reads(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await asyncio.sleep(3600)
        return ws

    app = web.Application()
    app.router.add_get("/v1/gossip/ws", never_reads)
    runner = web.AppRunner(app, shutdown_timeout=1.0)  # its handler never returns
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    dest = f"127.0.0.1:{runner.addresses[0][1]}"
    opts = LinkOptions(max_frames=64, max_bytes=256 * 1024, send_timeout=1.0)
    t = LinkTransport("127.0.0.1:0", datagrams=False, links=opts)
    hints: list[str] = []
    await t.start(lambda payload, src: None)
    t.peer_features = lambda addr: int(Feature.STREAM)
    t.on_unreachable = hints.append
    try:
        assert t.links is not None
        frame = b"GR" + b"f" * 32_000
        most = 0
        for i in range(3000):  # ~96 MB offered to a peer that reads nothing
            t.send(dest, frame)
            link = t.links._out.get(dest)
            most = max(most, link.queued if link is not None else 0)
            if i % 50 == 0:
                await asyncio.sleep(0)
            if dest in hints:
                break
        assert most <= opts.max_bytes
        assert await until(lambda: dest in hints, 15.0)
        assert t.links.dropped["stalled"] >= 1 and t.links.dropped["queue_full"] > 0
        assert t.links.open_links[0] == 0 or dest not in t.links._out
    finally:
        await t.close()
        await runner.cleanup()


async def test_a_dial_that_gets_no_answer_times_out_backs_off_and_falls_back() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # takes the upgrade request and never answers it
        await asyncio.sleep(3600)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    dest = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    t = LinkTransport("127.0.0.1:0", datagrams=False, send_timeout=0.5)
    hints: list[str] = []
    await t.start(lambda payload, src: None)
    t.peer_features = lambda addr: int(Feature.STREAM)
    t.on_unreachable = hints.append
    try:
        t.send(dest, b"GR frame")
        assert await until(lambda: dest in hints, 10.0)
        assert t.links is not None and t.links.dropped["dial_failed"] == 1
        t.send(dest, b"GR frame")  # backing off: over HTTP POST meanwhile
        assert t.frames_by_path["http"] == 1 and t.frames_by_path["stream"] == 1
    finally:
        await t.close()
        server.close()


async def test_a_silent_datagram_peer_is_hinted_unreachable_and_one_that_answers_not() -> None:
    t = LinkTransport("127.0.0.1:0", streams=False)
    hints: list[str] = []
    await t.start(lambda payload, src: None)
    t.peer_features = lambda addr: int(Feature.DATAGRAM)
    t.on_unreachable = hints.append
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    chatty = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # answers every datagram
    silent.bind(("127.0.0.1", 0))
    chatty.bind(("127.0.0.1", 0))
    chatty.setblocking(False)
    quiet_addr = f"127.0.0.1:{silent.getsockname()[1]}"
    chatty_addr = f"127.0.0.1:{chatty.getsockname()[1]}"
    loop = asyncio.get_running_loop()

    def answer() -> None:
        try:
            _, peer = chatty.recvfrom(2048)
        except BlockingIOError:
            return
        chatty.sendto(b"GR", peer)  # any datagram from it counts as a sign of life

    loop.add_reader(chatty.fileno(), answer)

    async def sending_until_hinted() -> bool:
        for _ in range(40):  # up to ~10 s of sends to both, 4 a second
            t.send(quiet_addr, b"GR ping")
            t.send(chatty_addr, b"GR ping")
            if quiet_addr in hints:
                return True
            await asyncio.sleep(0.25)
        return False

    try:
        assert await sending_until_hinted()
        assert chatty_addr not in hints and t.silence_hints >= 1
    finally:
        loop.remove_reader(chatty.fileno())
        silent.close()
        chatty.close()
        await t.close()
