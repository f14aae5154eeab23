"""What one small request/response exchange costs on each way a node could carry gossip:
bytes on the wire and CPU of both ends, in one run, one table.

    python -m sim.bench.transport [--exchanges 2000] [--paced 200] [--no-netns]

The request is a real ping frame and the answer a real ack frame (the core's codec, unsigned,
as the harness runs). Paths: HTTP/1.1 POST on a kept-alive connection (``HttpTransport``, as
shipped until now), HTTP/1.1 POST on a new connection each time, aiohttp WebSocket binary
frames on one persistent link, UDP datagram request/response; then the two new paths of the
shipped :class:`gossipreg.io.net.links_transport.LinkTransport` (its datagram path, and its
WebSocket link path with datagrams off), so that its own overhead shows beside the bare
mechanisms.

Exchanges run one at a time (a probe waits for its ack), the server in a second process: back
to back, and paced one per 50 ms (``--paced``), as a node's probes are: then TCP's delayed
acknowledgement (40 ms) goes out alone instead of riding the next request. Wire
bytes are the loopback interface's counter (``/proc/net/dev``: the IP packets, headers,
handshakes, ACKs and FINs included; loopback has no link header); as root the benchmark re-runs
itself in a network namespace of its own, so that nobody else's loopback traffic is counted
(``--no-netns``, or without root, counts the shared loopback: then other processes' traffic
adds noise). CPU is each process's CPU time (``time.process_time``), client plus server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.probes import Ack, Ping
from gossipreg.core.wire.tags import Feature
from gossipreg.io.net.links_transport import LinkTransport

__all__ = ["main"]

SRC = ("node-0123abcd", "127.0.0.1:40001")
DST = ("node-4567ef01", "127.0.0.1:40002")


def frames() -> tuple[bytes, bytes]:
    """A ping from SRC and the ack DST answers it with, as the core frames them."""
    codec = Codec("gossipreg")
    ping = codec.encode(*SRC, [Ping(123_456, DST[0]).to_wire()])
    ack = codec.encode(*DST, [Ack(123_456).to_wire()])
    return ping, ack


def lo_bytes() -> int:
    """Bytes the loopback interface received (it transmits the same)."""
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[0])
    raise RuntimeError("no loopback interface in /proc/net/dev")


# ---------------------------------------------------------------- the server
async def _serve() -> None:
    from aiohttp import web

    from gossipreg.io.net.transport import HttpTransport

    _, ack = frames()
    http = HttpTransport("127.0.0.1:0")

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(ack)
        return ws

    http.app.router.add_get("/ws", ws_handler)
    addr = await http.start(lambda payload, src: ack)

    class Udp(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t: Any = transport

        def datagram_received(self, data: bytes, peer: tuple[str, int]) -> None:
            self.t.sendto(ack, peer)

    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
    udp_port = udp.get_extra_info("sockname")[1]
    links = await LinkTransport("127.0.0.1:0").start(lambda payload, src: ack)
    print(json.dumps({"http": addr, "udp": udp_port, "links": links}), flush=True)

    def control() -> None:  # one line per question: the CPU time so far
        for _ in sys.stdin:
            print(time.process_time(), flush=True)
        os._exit(0)

    threading.Thread(target=control, daemon=True).start()
    await asyncio.Event().wait()


# ---------------------------------------------------------------- the client
class Server:
    def __init__(self) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "sim.bench.transport", "--serve"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout is not None and self.p.stdin is not None
        self.info: dict[str, Any] = json.loads(self.p.stdout.readline())

    def cpu(self) -> float:
        assert self.p.stdout is not None and self.p.stdin is not None
        self.p.stdin.write("cpu\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def stop(self) -> None:
        self.p.kill()
        self.p.wait()


Exchange = Callable[[], Awaitable[None]]


async def _http_keepalive(info: dict[str, Any], ping: bytes) -> tuple[Exchange, Any]:
    from gossipreg.io.net.transport import HttpTransport

    client = HttpTransport("127.0.0.1:0")
    got: asyncio.Future[None] | None = None

    def deliver(payload: bytes, src: str | None) -> None:
        if got is not None and not got.done():
            got.set_result(None)

    await client.start(deliver)

    async def once() -> None:
        nonlocal got
        got = asyncio.get_running_loop().create_future()
        client.send(info["http"], ping)
        await got

    return once, client.close


async def _http_new(info: dict[str, Any], ping: bytes) -> tuple[Exchange, Any]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
    url = f"http://{info['http']}/v1/gossip"

    async def once() -> None:
        async with session.post(url, data=ping) as r:
            await r.read()

    return once, session.close


async def _websocket(info: dict[str, Any], ping: bytes) -> tuple[Exchange, Any]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"http://{info['http']}/ws", autoping=False, compress=0)

    async def once() -> None:
        await ws.send_bytes(ping)
        await ws.receive()

    async def close() -> None:
        await ws.close()
        await session.close()

    return once, close


async def _udp(info: dict[str, Any], ping: bytes) -> tuple[Exchange, Any]:
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[None]] = []

    class Udp(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, peer: tuple[str, int]) -> None:
            if waiting and not waiting[0].done():
                waiting[0].set_result(None)

    t, _ = await loop.create_datagram_endpoint(Udp, remote_addr=("127.0.0.1", info["udp"]))

    async def once() -> None:
        fut = loop.create_future()
        waiting[:] = [fut]
        t.sendto(ping)
        await fut

    async def close() -> None:
        t.close()

    return once, close


def _links(datagrams: bool) -> Callable[[dict[str, Any], bytes],
                                        Awaitable[tuple[Exchange, Any]]]:
    async def make(info: dict[str, Any], ping: bytes) -> tuple[Exchange, Any]:
        client = LinkTransport("127.0.0.1:0", datagrams=datagrams)
        got: list[asyncio.Future[None]] = []

        def deliver(payload: bytes, src: str | None) -> None:
            if got and not got[0].done():
                got[0].set_result(None)

        await client.start(deliver)
        bits = int(Feature.DATAGRAM | Feature.STREAM) if datagrams else int(Feature.STREAM)
        client.peer_features = lambda addr: bits

        async def once() -> None:
            got[:] = [asyncio.get_running_loop().create_future()]
            client.send(info["links"], ping)
            await got[0]

        return once, client.close

    return make


PATHS: list[tuple[str, Callable[[dict[str, Any], bytes], Awaitable[tuple[Exchange, Any]]]]] = [
    ("HTTP/1.1 POST, keep-alive (HttpTransport)", _http_keepalive),
    ("HTTP/1.1 POST, new connection", _http_new),
    ("WebSocket binary frames (aiohttp), persistent", _websocket),
    ("UDP datagram request/response", _udp),
    ("LinkTransport: datagram path", _links(True)),
    ("LinkTransport: WebSocket link path", _links(False)),
]


Row = tuple[str, float, float, float, float, float]
PACE = 0.05  # s between paced exchanges: past the 40 ms delayed ACK


async def _run(server: Server, once: Exchange, n: int, gap: float) -> tuple[float, float, float]:
    """Bytes and CPU µs per exchange, and the mean latency (µs), over ``n`` exchanges."""
    await asyncio.sleep(0.3)
    b0, c0, s0 = lo_bytes(), time.process_time(), server.cpu()
    busy = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        await once()
        busy += time.perf_counter() - t0
        if gap:
            await asyncio.sleep(gap)
    c1, s1 = time.process_time(), server.cpu()
    await asyncio.sleep(0.3)  # trailing ACKs and FINs
    b1 = lo_bytes()
    return (b1 - b0) / n, ((c1 - c0) + (s1 - s0)) / n * 1e6, busy / n * 1e6


async def _measure(server: Server, n: int, paced: int) -> list[Row]:
    ping, _ = frames()
    rows = []
    for name, make in PATHS:
        once, close = await make(server.info, ping)
        for _ in range(100):  # warm up: connections, caches
            await once()
        b, cpu, lat = await _run(server, once, n, 0.0)
        pb, pcpu, _ = await _run(server, once, paced, PACE) if paced else (0.0, 0.0, 0.0)
        await close()
        rows.append((name, b, cpu, pb, pcpu, lat))
    return rows


def _report(rows: list[Row], n: int, paced: int, isolated: bool,
            sizes: tuple[int, int]) -> None:
    where = "a network namespace of its own" if isolated else \
        "the shared loopback (other processes' traffic is counted too)"
    print(f"one small request/response exchange: a {sizes[0]}-byte ping frame, a "
          f"{sizes[1]}-byte ack frame, one at a time; {n} back to back, then {paced} paced "
          f"one per {PACE * 1000:.0f} ms (bytes only: CPU is back to back); lo in {where}; "
          f"CPU of both ends")
    print(f"| {'path':<46} | {'bytes':>6} | {'bytes, paced':>12} | {'CPU':>8} "
          f"| {'latency':>9} |")
    print(f"|{'-' * 48}|{'-' * 7}:|{'-' * 13}:|{'-' * 9}:|{'-' * 10}:|")
    for name, b, cpu, pb, _, lat in rows:
        print(f"| {name:<46} | {b:>6,.0f} | {pb:>12,.0f} | {cpu:>5,.0f} µs | {lat:>6,.0f} µs |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.bench.transport", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exchanges", type=int, default=2000, help="back to back, per path")
    p.add_argument("--paced", type=int, default=200, help="paced exchanges per path (0: none)")
    p.add_argument("--no-netns", action="store_true",
                   help="measure on the shared loopback (noisy if others use it)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        asyncio.run(_serve())
        return 0
    if not a.no_netns and not a.in_netns and os.geteuid() == 0 and shutil.which("unshare") \
            and shutil.which("ip"):
        args = [sys.executable, "-m", "sim.bench.transport", "--in-netns",
                "--exchanges", str(a.exchanges), "--paced", str(a.paced)]
        script = "ip link set lo up && exec " + " ".join(args)
        return subprocess.call(["unshare", "--net", "--", "sh", "-c", script])
    server = Server()
    try:
        rows = asyncio.run(_measure(server, a.exchanges, a.paced))
    finally:
        server.stop()
    ping, ack = frames()
    _report(rows, a.exchanges, a.paced, a.in_netns, (len(ping), len(ack)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
