"""The transport tells its node when a frame could not reach a peer (no connection, no answer
in time), and not when the peer answered, even with a refusal: the failure detector probes on
the first, and must not on the second. Real aiohttp servers on port 0."""

from __future__ import annotations

import asyncio
import socket

from gossipreg.io.net.transport import HttpTransport, MemoryNetwork, PacketRefused
from tests.support import until


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_http_reports_an_unreachable_peer_but_not_a_refusal() -> None:
    def refuse(payload: bytes, src: str | None) -> bytes | None:
        raise PacketRefused("bad_mac")

    a, b = HttpTransport("127.0.0.1:0"), HttpTransport("127.0.0.1:0")
    told: list[str] = []
    a.on_unreachable = told.append
    await a.start(lambda p, s: None)
    b_addr = await b.start(refuse)
    try:
        errors: list[str] = []
        a.on_send_error = lambda dest, why: errors.append(why)
        a.send(b_addr, b"x")
        assert await until(lambda: errors == ["refused: bad_mac"], 5.0)
        assert told == []
        gone = f"127.0.0.1:{_closed_port()}"
        a.send(gone, b"x")
        assert await until(lambda: told == [gone], 5.0)
    finally:
        await a.close()
        await b.close()


async def test_memory_transport_reports_a_missing_peer() -> None:
    net = MemoryNetwork()
    a = net.transport("a")
    told: list[str] = []
    a.on_unreachable = told.append
    await a.start(lambda p, s: None)
    a.send("nobody", b"x")
    await asyncio.sleep(0)
    assert told == ["nobody"]
