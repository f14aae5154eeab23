"""Packet transports: HTTP over aiohttp (the real one) and an in-memory hub (tests, examples).

A transport moves opaque frames between node addresses. It never interprets them: the core
authenticates and validates every byte. Sends are fire-and-forget (gossip tolerates loss);
failures are counted, never raised into the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from gossipreg.core.errors import ConfigError, InvalidArgumentError
from gossipreg.io.validate import check_seeds, format_hostport, split_hostport

__all__ = [
    "GOSSIP_PATH",
    "HttpTransport",
    "MemoryNetwork",
    "MemoryTransport",
    "PacketRefused",
    "Transport",
    "cancel_all",
]

log = logging.getLogger("gossipreg.io.net.transport")

# aiohttp always sends Date and Server; a short Server value trims every gossip answer, and an
# empty Content-Type replaces the default application/octet-stream.
_SHORT = {"Server": "gr", "Content-Type": ""}

GOSSIP_PATH = "/v1/gossip"

# Called with each received frame and what the transport knows of its sender (for logs); may
# return one frame to send back to it, which then rides in the HTTP response instead of costing
# a request of its own (the ack to a ping). Raises PacketRefused to tell the sender why not.
Deliver = Callable[[bytes, "str | None"], "bytes | None"]
# Told (destination, reason) when a send fails or the peer refuses the frame.
SendError = Callable[[str, str], None]
# Told the destination when a frame could not reach it (no connection, no answer in time); not
# when the peer answered, even with a refusal. The failure detector takes it as a hint.
Unreachable = Callable[[str], None]
REFUSED_HEADER = "X-Gossipreg-Refused"



async def cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for each to end (whatever it raises on the way out)."""
    for t in list(tasks):
        t.cancel()
    for t in list(tasks):
        with contextlib.suppress(BaseException):
            await t

class PacketRefused(Exception):
    """Raised by a deliver callback: answer the sender 403 with ``reason`` (a metric label
    such as ``bad_mac``), so a joiner with the wrong key or cluster can say what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason



class Transport(ABC):
    """Moves frames between addresses. It has no fault hooks: tests cut links in their own
    helpers (an in-memory network), the harness in the kernel (sim/mesh/netns.py)."""

    address: str = ""
    send_errors: int = 0
    on_send_error: SendError | None = None
    on_unreachable: Unreachable | None = None
    # The paths it offers beside HTTP POST (``Feature`` bits, known once started: the node
    # announces them); ``peer_features(addr)``, set by the node, says what a peer announced.
    features: int = 0
    peer_features: Callable[[str], int] | None = None

    @abstractmethod
    async def start(self, deliver: Deliver) -> str:
        """Start receiving; returns the address peers should use."""

    @abstractmethod
    def send(self, dest: str, payload: bytes) -> None:
        """Queue a frame for ``dest`` without waiting."""

    def stats(self) -> dict[str, Any]:
        """Counters by path for ``/metrics`` (none here: see ``LinkTransport``)."""
        return {}

    def send_stream(self, dest: str, payload: bytes) -> None:
        """Queue a frame that must not travel as a datagram (a fallback probe); a transport
        without datagrams sends it as any other."""
        self.send(dest, payload)

    @abstractmethod
    async def close(self) -> None: ...

    def check_seeds(self, seeds: Sequence[str]) -> list[str]:
        """The seeds a node of this transport joins through, checked (addresses over a
        network, node names in memory). A bare string is refused: iterating it would give one
        "seed" per character."""
        if isinstance(seeds, str | bytes):
            raise InvalidArgumentError(
                f"seeds must be a list of addresses, not a string: use [{seeds!r}]")
        return list(seeds)


def _setting(text: object, what: str) -> tuple[str, int]:
    """``host:port`` of a setting; a bad one raises :class:`ConfigError` naming it."""
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be a host:port string, not {type(text).__name__}")
    try:
        return split_hostport(text)
    except ValueError as e:
        raise ConfigError(f"{what}: {e}") from None


class MemoryNetwork:
    """An in-process hub: transports created from it reach each other by name."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Deliver] = {}

    def transport(self, name: str) -> MemoryTransport:
        return MemoryTransport(self, name)


class MemoryTransport(Transport):
    """Delivers frames through a :class:`MemoryNetwork` on the next loop iteration."""

    def __init__(self, network: MemoryNetwork, name: str) -> None:
        self.network = network
        self.address = name

    async def start(self, deliver: Deliver) -> str:
        if self.address in self.network.endpoints:
            raise ValueError(f"address {self.address!r} is already in use on this network")
        self.network.endpoints[self.address] = deliver
        return self.address

    def send(self, dest: str, payload: bytes) -> None:
        target = self.network.endpoints.get(dest)
        loop = asyncio.get_running_loop()
        if target is None:  # as a refused connection
            self.send_errors += 1
            if self.on_unreachable is not None:
                loop.call_soon(self.on_unreachable, dest)
            return
        loop.call_soon(self._hand_over, target, payload)

    def _hand_over(self, target: Deliver, payload: bytes) -> None:
        try:
            reply = target(payload, self.address)
        except PacketRefused:
            return
        if reply is not None:
            mine = self.network.endpoints.get(self.address)
            if mine is not None:
                asyncio.get_running_loop().call_soon(mine, reply, None)

    async def close(self) -> None:
        self.network.endpoints.pop(self.address, None)


class HttpTransport(Transport):
    """One aiohttp server (shared with the HTTP API) and one pooled client session.

    A frame is the body of ``POST /v1/gossip``; the answer is ``204``, or ``200`` with a reply
    frame for the sender. ``app`` is exposed before :meth:`start` so that other routes can be
    mounted on the same server.
    """

    def __init__(self, bind: str, advertise: str | None = None, *,
                 max_body: int = 1_048_576, send_timeout: float = 2.0,
                 max_in_flight: int = 256) -> None:
        self.bind_host, self.bind_port = _setting(bind, "bind")
        self.advertise = advertise
        if advertise is not None:
            _setting(advertise, "advertise")
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_post(GOSSIP_PATH, self._receive)
        self._deliver: Deliver | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._timeout = ClientTimeout(total=send_timeout)
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_in_flight = max_in_flight
        self.bytes_sent = 0
        self.dropped_backpressure = 0
        # TLS (gossipreg.io.net.tls.apply_tls sets these before start): the server's and the
        # client's contexts, and whether the gossip endpoint demands a client certificate.
        self.server_ssl: ssl.SSLContext | None = None
        self.client_ssl: ssl.SSLContext | None = None
        self.require_peer_cert = False

    def check_seeds(self, seeds: Sequence[str]) -> list[str]:
        """Seeds are ``host:port`` addresses (host names resolve at each join attempt)."""
        return check_seeds(seeds)

    async def start(self, deliver: Deliver) -> str:
        self._deliver = deliver
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind_host, self.bind_port, reuse_address=True,
                           ssl_context=self.server_ssl)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
                where = format_hostport(self.bind_host, self.bind_port)
                raise ConfigError(f"bind: cannot listen on {where}: "
                                  f"{e.strerror or e}") from None
            raise
        # The port actually bound (port 0 asks the kernel for a free one).
        port = int(self._runner.addresses[0][1])
        self.bind_port = port
        self.address = self.advertise or format_hostport(self.bind_host, port)
        self._session = ClientSession(
            connector=TCPConnector(limit=self._max_in_flight, limit_per_host=8,
                                   keepalive_timeout=30.0),
            timeout=self._timeout,
            # Gossip frames are tiny: every header left out is a few percent of the traffic.
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
        return self.address

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        tr = request.transport
        if self.require_peer_cert and (tr is None or not tr.get_extra_info("peercert")):
            return web.Response(status=403, headers={**_SHORT,
                                                     REFUSED_HEADER: "no_client_certificate"})
        body = await request.read()
        try:
            reply = self._deliver(body, request.remote) if self._deliver is not None else None
        except PacketRefused as e:
            return web.Response(status=403, headers={**_SHORT, REFUSED_HEADER: e.reason})
        if reply is None:
            return web.Response(status=204, headers=_SHORT)
        return web.Response(body=reply, headers=_SHORT)

    def send(self, dest: str, payload: bytes) -> None:
        if self._session is None:
            return
        if len(self._tasks) >= self._max_in_flight:
            self.dropped_backpressure += 1
            return
        task = asyncio.get_running_loop().create_task(self._post(dest, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, dest: str, payload: bytes) -> None:
        assert self._session is not None
        try:
            host, port = split_hostport(dest)
            scheme = "https" if self.client_ssl is not None else "http"
            url = f"{scheme}://{format_hostport(host, port)}{GOSSIP_PATH}"
            async with self._session.post(url, data=payload,
                                          ssl=self.client_ssl or True) as resp:
                reply = await resp.read()
            self.bytes_sent += len(payload)
            if reply and resp.status == 200 and self._deliver is not None:
                back = None
                with contextlib.suppress(PacketRefused):
                    back = self._deliver(reply, dest)
                if back:  # what we say back to a response goes as a frame of its own
                    self.send(dest, back)
            elif resp.status >= 300 and self.on_send_error is not None:
                why = resp.headers.get(REFUSED_HEADER)
                self.on_send_error(dest, f"refused: {why}" if why else f"HTTP {resp.status}")
        except (TimeoutError, ClientError, OSError, ValueError) as e:
            self.send_errors += 1
            log.debug("send to %s failed: %s", dest, e)
            if self.on_send_error is not None:
                self.on_send_error(dest, str(e) or type(e).__name__)
            if self.on_unreachable is not None and not isinstance(e, ValueError):
                self.on_unreachable(dest)

    async def close(self) -> None:
        await cancel_all(self._tasks)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
