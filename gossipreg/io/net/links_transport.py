"""``LinkTransport``: HTTP POST plus two cheaper paths, chosen per peer and per frame.

Measured (``python -m sim.bench.transport``): a ping/ack exchange costs about 400-450 bytes on
the wire over HTTP/1.1 POST (headers both ways) and about 230-280 over a WebSocket link (TCP
acknowledgements), 176 as UDP datagrams; CPU falls in the same order. So the split is
memberlist's: datagrams for what fits one, a stream for the rest, HTTP POST as the fallback.

Rules:

- A node announces the paths it offers (``features``: ``Feature.DATAGRAM`` when its UDP socket
  is bound, ``Feature.STREAM`` when it accepts links), and sends on a path only to a peer whose
  running generation announced it (``peer_features``, the core's ``read.features_at``). A
  datagram to a node that does not listen for one would be lost silently and look like a
  failure; a peer not heard from yet (a seed being joined, a previous release) gets HTTP POST.
- Per frame: a datagram when both offer them and the frame fits ``max_datagram`` bytes (the
  core keeps probes within it; see ``core.gossip.dissemination``); else the peer's link when
  both offer links; else HTTP POST, which also takes what a link declines (backing off, the
  peer answered its upgrade with 404).
- A frame the node marks ``stream`` (the fallback ping of a probe whose datagram got no ack:
  memberlist's TCP fallback) skips the datagram path.
- Silence is a hint too, as HTTP's timeout was: a datagram peer sent to again 2 to 5 s after
  an earlier datagram, with no datagram from it since, is reported unreachable (at most one
  such hint a second), so across a cut the failure detector probes it at once instead of at its
  turn. A healthy peer just answers that probe.
- A reply to a datagram (the ack to a ping) goes back to the datagram's source, its sender's
  listening address; one too large for a datagram goes there by the usual paths.
- With TLS the node offers no datagrams: TLS authenticates peers by certificate and hides the
  frames, and a datagram path would do neither (a keyring-derived AES-GCM key would let any
  holder of the gossip key in, without a certificate). Links then run over the same TLS server
  (``wss``), with the same client-certificate rule as ``POST /v1/gossip``.
- The node's own paths can be turned off (``datagrams=False``, ``streams=False``): it then
  announces nothing new and is spoken to over HTTP POST, as a previous release is.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp import web

from gossipreg.core.wire.tags import Feature
from gossipreg.io.net.datagrams import DatagramEndpoint
from gossipreg.io.net.links import LINK_PATH, LinkOptions, Links
from gossipreg.io.net.transport import Deliver, HttpTransport, PacketRefused
from gossipreg.io.validate import format_hostport, split_hostport

__all__ = ["LinkTransport"]

_DATAGRAM, _STREAM = int(Feature.DATAGRAM), int(Feature.STREAM)
_ROUTES_KEPT = 4096
# Silence (see the rules): a peer quiet since a datagram sent SILENCE..WINDOW s ago.
SILENCE, SILENCE_WINDOW, SILENCE_HINT_EVERY = 2.0, 5.0, 1.0


class LinkTransport(HttpTransport):
    """HTTP POST, UDP datagrams and WebSocket links (see the module rules)."""

    def __init__(self, bind: str, advertise: str | None = None, *,
                 max_body: int = 1_048_576, send_timeout: float = 2.0,
                 max_in_flight: int = 256, datagrams: bool = True, streams: bool = True,
                 max_datagram: int = 1_400, links: LinkOptions | None = None) -> None:
        super().__init__(bind, advertise, max_body=max_body, send_timeout=send_timeout,
                         max_in_flight=max_in_flight)
        self.use_datagrams, self.use_streams = datagrams, streams
        self.max_datagram = max_datagram
        self.link_options = links or LinkOptions(send_timeout=send_timeout, max_msg=max_body)
        self.udp: DatagramEndpoint | None = None
        self.links: Links | None = None
        self.frames_by_path: Counter[str] = Counter()
        self._routes: dict[str, tuple[str, int, bool]] = {}  # dest -> (host, port, datagrams)
        self._quiet: dict[str, float] = {}  # dest -> first datagram sent since it was heard
        self._next_silence_hint = 0.0
        self.silence_hints = 0
        if streams:
            self.app.router.add_get(LINK_PATH, self._accept)

    async def start(self, deliver: Deliver) -> str:
        addr = await super().start(deliver)
        features = 0
        if self.use_streams:
            self.links = Links(
                deliver, self.link_options, unreachable=self._hint,
                send_error=self._error, fallback=super().send,
                scheme="https" if self.client_ssl is not None else "http",
                client_ssl=self.client_ssl, peer_cert_required=self.require_peer_cert)
            self.links.start()
            features |= _STREAM
        if self.use_datagrams and self.server_ssl is None:
            self.udp = await DatagramEndpoint.open(self.bind_host, self.bind_port,
                                                   self._on_datagram, self._hint,
                                                   self.max_datagram)
            if self.udp is not None:
                features |= _DATAGRAM
        self.features = features
        return addr

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        if self.links is None:
            raise web.HTTPNotFound()
        return await self.links.accept(request)

    def _hint(self, dest: str) -> None:
        if self.on_unreachable is not None:
            self.on_unreachable(dest)

    def _error(self, dest: str, why: str) -> None:
        self.send_errors += 1
        if self.on_send_error is not None:
            self.on_send_error(dest, why)

    # ---------------------------------------------------------------- sending
    def send(self, dest: str, payload: bytes) -> None:
        bits = self.peer_features(dest) if self.peer_features is not None else 0
        if bits & _DATAGRAM and self.udp is not None and len(payload) <= self.max_datagram:
            route = self._routes.get(dest)
            if route is None:
                route = self._route(dest)
            if route[2] and self.udp.send(dest, route[0], route[1], payload):
                self.frames_by_path["datagram"] += 1
                self._sent_to(dest)
                return
        self.send_stream(dest, payload)

    def send_stream(self, dest: str, payload: bytes) -> None:
        bits = self.peer_features(dest) if self.peer_features is not None else 0
        if bits & _STREAM and self.links is not None and self.links.send(dest, payload):
            self.frames_by_path["stream"] += 1
            return
        self.frames_by_path["http"] += 1
        super().send(dest, payload)

    def _sent_to(self, dest: str) -> None:
        """Note a datagram to ``dest``; hint when it has stayed silent (see the rules)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        first = self._quiet.get(dest)
        if first is None or now - first > SILENCE_WINDOW:
            if len(self._quiet) >= _ROUTES_KEPT:
                self._quiet.clear()
            self._quiet[dest] = now
        elif now - first >= SILENCE and now >= self._next_silence_hint:
            self._next_silence_hint = now + SILENCE_HINT_EVERY
            self._quiet[dest] = now
            self.silence_hints += 1
            loop.call_soon(self._hint, dest)  # not inside the node's own send

    def _route(self, dest: str) -> tuple[str, int, bool]:
        try:
            host, port = split_hostport(dest)
        except ValueError:
            return "", 0, False
        assert self.udp is not None
        route = (host, port, self.udp.takes(host))
        if len(self._routes) >= _ROUTES_KEPT:
            self._routes.clear()
        self._routes[dest] = route
        return route

    # ---------------------------------------------------------------- receiving
    def _on_datagram(self, frame: bytes, peer: tuple[str, int]) -> None:
        deliver = self._deliver
        if deliver is None:
            return
        src = format_hostport(*peer)
        self._quiet.pop(src, None)  # heard from it
        try:
            reply = deliver(frame, src)
        except PacketRefused:
            return  # counted by the node; a datagram has no one to tell
        if reply is None:
            return
        if len(reply) <= self.max_datagram and self.udp is not None:
            self.udp.reply(peer, reply)
            self.frames_by_path["datagram"] += 1
        else:
            self.send(src, reply)

    def stats(self) -> dict[str, Any]:
        """Frames sent per path, and each path's own counters (drops by reason)."""
        out: dict[str, Any] = {"frames_by_path": dict(self.frames_by_path),
                               "features": self.features, "silence_hints": self.silence_hints}
        if self.udp is not None:
            out["datagram"] = self.udp.stats()
        if self.links is not None:
            out["links"] = {"open": self.links.open_links, **self.links.counts,
                            "dropped": dict(self.links.dropped)}
        return out

    async def close(self) -> None:
        if self.links is not None:
            await self.links.close()
        if self.udp is not None:
            self.udp.close()
        await super().close()
