"""WebSocket links: persistent streams of frames between nodes (aiohttp, binary messages).

Rules:

- A link carries whole frames as binary WebSocket messages, either way. A frame that arrives
  on a link goes to the node, and the reply it hands back (the ack to a ping) returns on the
  same link, as it rides an HTTP response.
- Outbound links open on demand (the first frame for a destination dials
  ``ws[s]://<addr>/v1/gossip/ws``); a link, either end, closes after ``idle`` seconds without
  a frame either way.
- Each link has a bounded send queue (``max_frames`` frames and ``max_bytes`` bytes, with room
  for one frame whatever its size): when full, the oldest frame is dropped and counted. Only
  the link's own writer task waits on its socket, so the node never blocks.
- A write that has not completed after ``send_timeout`` seconds means the peer stopped reading:
  the link is aborted, its queue dropped, the destination reported unreachable and backed off.
  A slow peer thus holds at most its queue, the writer's limit and the kernel's buffers.
- A dial that fails, or does not complete within ``send_timeout`` (connection, TLS and
  upgrade), reports the destination unreachable and backs off: doubling from
  ``backoff_min`` to ``backoff_max`` seconds, jittered (x 0.5 to 1.5). While a destination
  backs off, or after it answered the upgrade 404/405 (it takes no links; remembered for
  ``no_links_for`` seconds), :meth:`Links.send` declines and the caller sends over HTTP POST;
  the frames queued on a link whose upgrade was answered otherwise go that way too.
- An outbound link that ends without the peer's close frame (a crash) reports the destination
  unreachable, so the failure detector probes it at once.
- Hostile input: a text frame, an oversized one (``max_msg``) or a protocol error closes the
  link and is counted; a frame the node refuses (wrong key or cluster) closes it with code 4403
  and the reason, which the dialing end reports (``on_send_error``) and backs off from. At most
  ``max_inbound`` inbound links (beyond: 503, counted) and ``max_outbound`` outbound ones
  (beyond: ``send`` declines).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientSession, TCPConnector, WSMsgType, WSServerHandshakeError, web

from gossipreg.io.net.transport import Deliver, PacketRefused, cancel_all

__all__ = ["LINK_PATH", "Link", "LinkOptions", "Links"]

LINK_PATH = "/v1/gossip/ws"
REFUSED_CLOSE = 4403  # close code: the node refused a frame (the reason is the message)


@dataclass(frozen=True)
class LinkOptions:
    """Bounds and timers of the links (seconds, bytes)."""

    idle: float = 60.0
    send_timeout: float = 2.0
    max_frames: int = 256
    max_bytes: int = 1 << 20
    max_msg: int = 1_048_576
    max_inbound: int = 512
    max_outbound: int = 256
    backoff_min: float = 0.2
    backoff_max: float = 10.0
    no_links_for: float = 600.0
    writer_limit: int = 1 << 16


class Link:
    """One link: its WebSocket, bounded queue and activity clock."""

    __slots__ = ("abort", "closing", "last", "outbound", "peer", "queue", "queued",
                 "sending_since", "wake", "ws")

    def __init__(self, peer: str, outbound: bool, now: float) -> None:
        self.peer = peer  # the destination (outbound) or the remote ip:port (inbound)
        self.outbound = outbound
        self.ws: Any = None  # aiohttp's client or server WebSocket, once open
        self.abort: Callable[[], None] = lambda: None
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.wake = asyncio.Event()
        self.last = now
        self.sending_since: float | None = None
        self.closing = False  # we are closing it: its end is no news

    def put(self, frame: bytes, opts: LinkOptions, dropped: Counter[str]) -> None:
        q = self.queue
        while q and (len(q) >= opts.max_frames or self.queued + len(frame) > opts.max_bytes):
            self.queued -= len(q.popleft())
            dropped["queue_full"] += 1
        q.append(frame)
        self.queued += len(frame)
        self.wake.set()


def _socket_abort(ws: Any) -> Callable[[], None]:
    """Abort a client WebSocket's connection through its socket (aiohttp exposes no transport
    for it): shut it down and discard what is unsent (the writer waiting on it fails)."""

    def abort() -> None:
        sock = ws.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)

    return abort


class Links:
    """Every link of one node (see the module rules)."""

    def __init__(self, deliver: Deliver, opts: LinkOptions, *,
                 unreachable: Callable[[str], None], send_error: Callable[[str, str], None],
                 fallback: Callable[[str, bytes], None], scheme: str = "http",
                 client_ssl: Any = None, peer_cert_required: bool = False) -> None:
        self._deliver = deliver
        self.opts = opts
        self._unreachable = unreachable
        self._send_error = send_error
        self._fallback = fallback
        self._scheme = "wss" if scheme == "https" else "ws"
        self._ssl = client_ssl if client_ssl is not None else True
        self._peer_cert_required = peer_cert_required
        self._out: dict[str, Link] = {}
        self._in: set[Link] = set()
        self._backoff: dict[str, tuple[float, int]] = {}  # dest -> (until, failures)
        self._no_links: dict[str, float] = {}  # dest -> until
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random()
        self._closed = False
        self.dropped: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()  # frames_in, frames_out, bytes_in, bytes_out...

    # ---------------------------------------------------------------- life
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = ClientSession(
            connector=TCPConnector(limit=0, force_close=False),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
        self._spawn(self._sweep())

    async def close(self) -> None:
        self._closed = True  # no link accepted from now on (the server waits for each)
        for link in [*self._out.values(), *self._in]:
            link.closing = True
            link.abort()
        await cancel_all(self._tasks)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    @property
    def open_links(self) -> tuple[int, int]:
        """(outbound, inbound) links open now."""
        return len(self._out), len(self._in)

    # ---------------------------------------------------------------- sending
    def send(self, dest: str, frame: bytes) -> bool:
        """Queue ``frame`` on the link to ``dest`` (dialed if need be); False when the caller
        must use another path (see the rules)."""
        link = self._out.get(dest)
        if link is None:
            if self._session is None:
                return False
            now = self._now()
            if self._no_links.get(dest, 0.0) > now or self._backoff.get(dest, (0.0, 0))[0] > now:
                return False
            if len(self._out) >= self.opts.max_outbound:
                self.dropped["outbound_cap"] += 1
                return False
            link = self._out[dest] = Link(dest, True, now)
            self._spawn(self._dial(link))
        link.put(frame, self.opts, self.dropped)
        return True

    def _back_off(self, dest: str) -> None:
        _, failures = self._backoff.get(dest, (0.0, 0))
        delay = min(self.opts.backoff_max, self.opts.backoff_min * 2 ** failures)
        self._backoff[dest] = (self._now() + delay * self._rng.uniform(0.5, 1.5), failures + 1)

    def _forget(self, link: Link) -> None:
        if link.outbound:
            if self._out.get(link.peer) is link:
                del self._out[link.peer]
        else:
            self._in.discard(link)
        link.queue.clear()
        link.queued = 0

    async def _dial(self, link: Link) -> None:
        dest = link.peer
        assert self._session is not None
        try:  # the whole dial (connect, TLS, upgrade) within the send timeout
            ws = await asyncio.wait_for(self._session.ws_connect(
                f"{self._scheme}://{dest}{LINK_PATH}", autoping=True, heartbeat=None,
                compress=0, max_msg_size=self.opts.max_msg, ssl=self._ssl,
                timeout=_ws_timeout(self.opts.send_timeout)), self.opts.send_timeout)
        except WSServerHandshakeError as e:  # the peer answered, but takes no link
            if e.status in (404, 405):
                self._no_links[dest] = self._now() + self.opts.no_links_for
            else:
                self._back_off(dest)
                self._send_error(dest, f"link refused: HTTP {e.status}")
            self.dropped["upgrade_refused"] += 1
            queued = list(link.queue)
            self._forget(link)
            for frame in queued:
                self._fallback(dest, frame)
            return
        except (ClientError, OSError, TimeoutError) as e:
            self._forget(link)
            self._back_off(dest)
            self.dropped["dial_failed"] += 1
            self._send_error(dest, str(e) or type(e).__name__)
            self._unreachable(dest)
            return
        self._backoff.pop(dest, None)
        link.ws, link.abort = ws, _socket_abort(ws)
        self.counts["dialed"] += 1
        await self._serve(link)

    # ---------------------------------------------------------------- accepting
    async def accept(self, request: web.Request) -> web.StreamResponse:
        """The ``GET /v1/gossip/ws`` handler: an inbound link."""
        tr = request.transport
        if self._peer_cert_required and (tr is None or not tr.get_extra_info("peercert")):
            self.dropped["no_client_certificate"] += 1
            return web.Response(status=403)
        if self._closed or self._loop is None:
            return web.Response(status=503)
        if len(self._in) >= self.opts.max_inbound:
            self.dropped["inbound_cap"] += 1
            return web.Response(status=503)
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, compress=False,
                                   max_msg_size=self.opts.max_msg,
                                   writer_limit=self.opts.writer_limit)
        if not ws.can_prepare(request).ok:
            self.dropped["not_an_upgrade"] += 1
            return web.Response(status=400)
        await ws.prepare(request)
        link = Link(f"{request.remote}", False, self._now())
        link.ws = ws
        if tr is not None:
            link.abort = tr.abort
        if self._closed:  # closed while the upgrade went through
            link.abort()
            return ws
        self._in.add(link)
        self.counts["accepted"] += 1
        await self._serve(link)
        return ws

    # ---------------------------------------------------------------- a link's life
    async def _serve(self, link: Link) -> None:
        writer = asyncio.get_running_loop().create_task(self._write(link))
        try:
            crashed = await self._read(link)
        finally:
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
            self._forget(link)
        if crashed and link.outbound and not link.closing:
            self._unreachable(link.peer)

    async def _read(self, link: Link) -> bool:
        """Deliver what arrives until the link ends; whether it ended without a close frame."""
        ws, counts, deliver = link.ws, self.counts, self._deliver
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is WSMsgType.BINARY:
                link.last = self._now()
                data = msg.data
                counts["frames_in"] += 1
                counts["bytes_in"] += len(data)
                try:
                    reply = deliver(data, link.peer)
                except PacketRefused as e:
                    self.dropped["refused"] += 1
                    link.closing = True
                    await ws.close(code=REFUSED_CLOSE, message=e.reason.encode()[:100])
                    return False
                if reply is not None:
                    link.put(reply, self.opts, self.dropped)
            elif kind is WSMsgType.TEXT:
                self.dropped["text_frame"] += 1
                link.closing = True
                await ws.close(code=1003)
                return False
            elif kind is WSMsgType.CLOSE:
                if msg.data == REFUSED_CLOSE and link.outbound:
                    self._back_off(link.peer)
                    self._send_error(link.peer, f"refused: {msg.extra or 'unknown'}")
                return False
            elif kind is WSMsgType.ERROR:
                err = str(msg.data).lower()
                self.dropped["oversized" if "too big" in err or "size" in err
                             else "protocol_error"] += 1
                return not link.closing
            else:  # CLOSED (the connection ended without a close frame), CLOSING
                return kind is WSMsgType.CLOSED and not link.closing

    async def _write(self, link: Link) -> None:
        ws, q, counts = link.ws, link.queue, self.counts
        while not ws.closed:
            if not q:
                link.wake.clear()
                await link.wake.wait()
                continue
            frame = q.popleft()
            link.queued -= len(frame)
            link.sending_since = self._now()
            try:
                await ws.send_bytes(frame)
            except (ConnectionError, ClientError, RuntimeError):
                return
            link.sending_since = None
            link.last = self._now()
            counts["frames_out"] += 1
            counts["bytes_out"] += len(frame)

    async def _sweep(self) -> None:
        """Close idle links, abort stalled ones, forget expired back-offs."""
        opts = self.opts
        while True:
            await asyncio.sleep(min(opts.idle / 4, opts.send_timeout / 2))
            now = self._now()
            for link in [*self._out.values(), *self._in]:
                if link.sending_since is not None and now - link.sending_since > opts.send_timeout:
                    self.dropped["stalled"] += 1
                    self.dropped["queue_full"] += len(link.queue)
                    link.closing = True
                    self._forget(link)
                    link.abort()
                    if link.outbound:
                        self._back_off(link.peer)
                        self._unreachable(link.peer)
                elif link.ws is not None and now - link.last > opts.idle and not link.closing:
                    link.closing = True
                    self._forget(link)
                    self.counts["idle_closed"] += 1
                    self._spawn(_close_quietly(link))
            self._backoff = {k: v for k, v in self._backoff.items() if v[0] > now - 60.0}
            self._no_links = {k: v for k, v in self._no_links.items() if v > now}


def _ws_timeout(close: float) -> Any:
    from aiohttp import ClientWSTimeout

    return ClientWSTimeout(ws_receive=None, ws_close=close)


async def _close_quietly(link: Link) -> None:
    try:
        await asyncio.wait_for(link.ws.close(), 2.0)
    except (TimeoutError, ConnectionError, ClientError, RuntimeError):
        link.abort()
