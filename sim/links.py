"""What :class:`gossipreg.io.net.links_transport.LinkTransport` makes of a lossy network, for the
simulator: each frame on a datagram, a WebSocket link or an HTTP POST, as the transport
chooses.

Rules (each mirrors the transport and the kernel under it):

- The path: a datagram when the sender's node knows the destination announced
  ``Feature.DATAGRAM`` (the sender offers them too), the frame fits ``max_datagram_size`` and
  is not a stream frame (the fallback ping); else the link when the destination announced
  ``Feature.STREAM`` and the link is not backing off; else HTTP POST (:mod:`sim.tcp`).
- A datagram is lost with the loss probability, and on a cut link; nobody is told.
- A link is one TCP connection per (sender, destination), dialed by the sender's first frame:
  a handshake (its SYN or SYN-ACK lost is retried after 1, 2, 4 ... s) and the upgrade's round
  trip, each segment with its own losses. A dial that cannot complete within ``timeout`` (a cut
  link, or unlucky losses) fails: the sender is told (unreachable), backs off (``backoff_min``
  doubling to ``backoff_max``, x 0.5 to 1.5) and uses HTTP POST meanwhile; what it queued on
  the link is lost.
- On an open link frames arrive in order: a segment lost k times in a row arrives after
  ``rto`` x (1 + 2 + ... + 2^(k-1)) more, and every later frame of the link waits behind it
  (head-of-line blocking). A reply (the first frame the destination sends back while handling
  a frame) rides back on the same connection, in order behind its earlier replies; it is
  drawn when it is sent (by the worker that runs the destination: each direction's state lives
  where its frames are sent from).
- A frame sent over a cut link is lost and nobody is told (in truth it waits in the kernel's
  buffer and may arrive late, after the heal: the model is the pessimistic half of that).
- A link unused for ``idle`` seconds is closed; the next frame dials again.
- Silence is a hint, as the transport makes it: a datagram to a peer sent ``silence`` to
  ``silence_window`` s after an earlier one, with no datagram from that peer since, tells the
  sender the peer is unreachable (at most one such hint per ``silence_every`` s per sender).

Simplification, as in :mod:`sim.tcp`: a frame is one segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import inf, log
from random import Random

from gossipreg.core.node import Node
from gossipreg.core.wire.tags import Feature
from sim.tcp import Sent, TcpOptions

__all__ = ["DATAGRAM", "HTTP", "LINK", "LINK_REPLY", "LinkOptions", "LinkPaths", "NetOptions"]

DATAGRAM, LINK, HTTP = 0, 1, 2  # the paths
LINK_REPLY = -1.0  # a Sent's reply_at: the reply is drawn when sent, over the link
_DATAGRAM_BIT, _STREAM_BIT = int(Feature.DATAGRAM), int(Feature.STREAM)
_MAX_BACKOFFS = 12


@dataclass(frozen=True)
class LinkOptions:
    """The transport's link constants (seconds): ``gossipreg.io.net.links.LinkOptions``."""

    idle: float = 60.0
    timeout: float = 2.0
    backoff_min: float = 0.2
    backoff_max: float = 10.0
    # gossipreg.io.net.links_transport's SILENCE, SILENCE_WINDOW, SILENCE_HINT_EVERY
    silence: float = 2.0
    silence_window: float = 5.0
    silence_every: float = 1.0


@dataclass
class NetOptions:
    """Network knobs (seconds and probabilities)."""

    latency_min: float = 0.0005
    latency_mean: float = 0.002
    loss: float = 0.0
    duplicate: float = 0.0  # datagram model only: TCP never delivers a frame twice
    model: str = "links"  # "links" | "tcp" | "datagram" (see sim.cluster)
    tcp: TcpOptions = field(default_factory=TcpOptions)
    links: LinkOptions = field(default_factory=LinkOptions)

    def __post_init__(self) -> None:
        if self.model not in ("links", "tcp", "datagram"):
            raise ValueError(f"network model must be 'links', 'tcp' or 'datagram', "
                             f"not {self.model!r}")
        if self.model != "datagram" and self.duplicate:
            raise ValueError("duplicates need the datagram model: TCP delivers a frame once")


class _Link:
    __slots__ = ("back", "fwd", "ready", "used")

    def __init__(self, ready: float) -> None:
        self.ready = ready  # when the dial completed
        self.fwd = ready  # arrival of the latest frame sent (frames arrive in order)
        self.back = ready  # arrival of the latest reply riding back
        self.used = ready


class LinkPaths:
    """The links of this worker's nodes, both directions' state where it is drawn."""

    def __init__(self, rng: Random, tcp: TcpOptions, options: LinkOptions | None = None,
                 max_datagram: int = 1_400) -> None:
        self.rng = rng
        self.t = tcp
        self.o = options or LinkOptions()
        self.max_datagram = max_datagram
        self._out: dict[tuple[str, str], _Link] = {}  # (sender, dest): its frames
        self._back: dict[tuple[str, str], float] = {}  # (sender, dest): latest reply arrival
        self._backoff: dict[tuple[str, str], tuple[float, int]] = {}
        self.dials = self.dial_failures = self.silence_hints = 0
        self._sweep_at = 0.0
        self._quiet: dict[tuple[str, str], float] = {}  # (node, peer): first unanswered send
        self._next_hint: dict[str, float] = {}
        self._quiet_sweep_at = 0.0
        self.by_path = [0, 0, 0]  # frames per path: datagram, link, HTTP

    def path(self, node: Node, dest: str, size: int, stream: bool) -> int:
        """Which path the transport of ``node`` (which offers both) picks for a frame to
        ``dest``."""
        bits = node.read.features_at(dest)
        if bits & _DATAGRAM_BIT and not stream and size <= self.max_datagram:
            return DATAGRAM
        return LINK if bits & _STREAM_BIT else HTTP

    def datagram_sent(self, src: str, dest: str, now: float) -> bool:
        """Note a datagram; whether ``src`` now takes ``dest``'s silence as a hint."""
        key, o = (src, dest), self.o
        if now >= self._quiet_sweep_at:  # bounded: only the last window's sends are kept
            self._quiet_sweep_at = now + o.silence_window
            self._quiet = {k: v for k, v in self._quiet.items() if v > now - o.silence_window}
            self._next_hint = {k: v for k, v in self._next_hint.items() if v > now}
        first = self._quiet.get(key)
        if first is None or now - first > o.silence_window:
            self._quiet[key] = now
        elif now - first >= o.silence and now >= self._next_hint.get(src, 0.0):
            self._next_hint[src] = now + o.silence_every
            self._quiet[key] = now
            self.silence_hints += 1
            return True
        return False

    def heard(self, node: str, sender: str) -> None:
        """A datagram from ``sender`` reached ``node``: it is not silent."""
        if self._quiet:
            self._quiet.pop((node, sender), None)

    def _retries(self, loss: float, rto: float) -> float:
        """Retransmission delay of one segment (see :meth:`sim.tcp.TcpPaths._retries`)."""
        if loss <= 0.0:
            return 0.0
        u = self.rng.random()
        if u >= loss:
            return 0.0
        k = min(int(log(max(u, 1e-300)) / log(loss)), _MAX_BACKOFFS)
        return rto * ((1 << k) - 1)

    def send(self, src: str, dest: str, now: float, loss: float, cut_fwd: bool,
             cut_back: bool, latency: Callable[[], float]) -> Sent | None:
        """A frame over the link from ``src`` to ``dest``; None when the link declines (it
        backs off: the caller sends over HTTP POST). A reply rides back (``LINK_REPLY``)."""
        if now >= self._sweep_at:
            self.sweep(now)
        key = (src, dest)
        link = self._out.get(key)
        if link is not None and now - link.used > self.o.idle:
            link = None
        if link is None:
            backoff = self._backoff.get(key)
            if backoff is not None and backoff[0] > now:
                return None
            link = self._dial(key, now, loss, cut_fwd or cut_back, latency)
            if link is None:
                return Sent(None, None, now + self.o.timeout)
        link.used = now
        self.by_path[LINK] += 1
        if cut_fwd:
            return Sent(None, None)
        t = max(max(now, link.ready) + self._retries(loss, self.t.rto) + latency(), link.fwd)
        link.fwd = t
        return Sent(t, LINK_REPLY)

    def _dial(self, key: tuple[str, str], now: float, loss: float, cut: bool,
              latency: Callable[[], float]) -> _Link | None:
        self.dials += 1
        ready = inf
        if not cut:
            d = latency()
            both_ways = 1.0 - (1.0 - loss) ** 2
            ready = (now + self._retries(both_ways, self.t.syn_rto) + 2 * d  # handshake
                     + self._retries(loss, self.t.rto) + self._retries(loss, self.t.rto)
                     + 2 * d)  # the upgrade request and its 101
        if ready - now > self.o.timeout:
            self.dial_failures += 1
            failures = self._backoff.get(key, (0.0, 0))[1]
            delay = min(self.o.backoff_max, self.o.backoff_min * 2 ** failures)
            self._backoff[key] = (now + self.o.timeout + delay * self.rng.uniform(0.5, 1.5),
                                  failures + 1)
            self._out.pop(key, None)
            return None
        self._backoff.pop(key, None)
        link = self._out[key] = _Link(ready)
        return link

    def reply(self, sender: str, dest: str, now: float, loss: float, cut_back: bool,
              latency: Callable[[], float]) -> float | None:
        """When a reply ``dest`` sends at ``now`` on ``sender``'s link arrives (None: lost)."""
        if cut_back:
            return None
        key = (sender, dest)
        at = max(now + self._retries(loss, self.t.rto) + latency(), self._back.get(key, 0.0))
        self._back[key] = at
        return at

    def sweep(self, now: float) -> None:
        """Forget links idle past ``idle`` and replies long arrived (bounded memory)."""
        idle = self.o.idle
        self._sweep_at = now + idle
        self._out = {k: v for k, v in self._out.items() if now - v.used <= idle}
        self._back = {k: v for k, v in self._back.items() if v > now - idle}
        self._backoff = {k: v for k, v in self._backoff.items() if v[0] > now - 60.0}
