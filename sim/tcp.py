"""What the HTTP transport's pooled TCP connections make of a lossy network, for the simulator.

Rules (each mirrors :class:`gossipreg.io.net.transport.HttpTransport` and the kernel under it):

- A frame is one HTTP request on one of at most ``per_host`` pooled connections from its sender
  to its destination (the client's ``limit_per_host``); when every one is busy the request waits
  for the first to come free (head-of-line blocking).
- A connection that is missing (never opened, idle past ``keepalive``, or closed by a timeout)
  costs a handshake first: a round trip, and ``syn_rto`` x 1, 2, 4, ... for each lost SYN or
  SYN-ACK (the kernel's SYN back-off).
- A lost segment is a delay, not a lost frame: it is sent again after ``rto``, and after twice
  as long at each further loss of the same segment (the kernel's retransmission back-off).
- The response (a 204, or the reply frame that rides it, such as an ack) comes back on the same
  connection, with its own losses. The connection is busy until it arrives.
- Only what misses the client's total ``timeout`` is lost: a request not delivered by then is
  dropped and its connection closed; so is a reply not back by then (the request itself was
  delivered). A cut link (partition, clog) delivers nothing, so such requests time out.
- A sender holds at most ``max_in_flight`` requests; beyond, frames are refused at once (the
  transport's back-pressure).

Every draw is made at send time from the cluster's seeded rng, so a run stays a pure function of
its seed, and a two-worker run needs no state from the other worker. Two simplifications: a
frame is one segment (only the tail segment of a long frame can cost an RTO; the others are
repaired by fast retransmit in about a round trip, which is below this model's resolution), and
the receiver answers at once (a paused receiver's connections are not held busy).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from math import inf, log
from random import Random
from typing import NamedTuple

__all__ = ["Sent", "TcpOptions", "TcpPaths"]

_MAX_BACKOFFS = 12  # 0.2 s x 2^12 is far past any timeout: more doublings change nothing


@dataclass(frozen=True)
class TcpOptions:
    """The transport's and the kernel's constants (seconds)."""

    rto: float = 0.2  # Linux's minimum retransmission timeout (a LAN's RTO sits at it)
    syn_rto: float = 1.0  # Linux's initial SYN retransmission timeout
    timeout: float = 2.0  # HttpTransport's send_timeout (aiohttp's total timeout)
    keepalive: float = 30.0  # aiohttp's client keep-alive for an idle pooled connection
    per_host: int = 8  # HttpTransport's limit_per_host
    max_in_flight: int = 256  # HttpTransport's max_in_flight


class Sent(NamedTuple):
    """The fate of one frame: when it is delivered and when a reply riding its response would
    arrive back at the sender (None: lost). (A named tuple: one is made per frame.)"""

    deliver_at: float | None
    reply_at: float | None
    failed_at: float | None = None  # when the sender's transport reports the send failed


_LOST = Sent(None, None)


class _Conn:
    """One pooled connection: busy until ``free_at``; reusable without a handshake while
    ``open_until`` lies ahead (a closed connection has ``open_until == free_at``)."""

    __slots__ = ("free_at", "open_until")

    def __init__(self) -> None:
        self.free_at = -inf
        self.open_until = -inf


class TcpPaths:
    """The pooled connections of every sender (of this worker's nodes) to every destination."""

    def __init__(self, rng: Random, options: TcpOptions | None = None) -> None:
        self.rng = rng
        self.o = options or TcpOptions()
        self._pools: dict[tuple[str, str], list[_Conn]] = {}
        self._in_flight: dict[str, list[float]] = {}  # sender -> heap of request end times
        self._sweep_at = 0.0
        self.refused = 0  # frames refused by back-pressure
        self.timed_out = 0  # requests not delivered within the timeout
        self.replies_lost = 0  # responses not back within the timeout

    def _retries(self, loss: float, rto: float) -> float:
        """What retransmitting one segment costs: ``rto`` x (1 + 2 + 4 + ...), one term for
        each time in a row it is lost (lost k times or more with chance loss^k)."""
        if loss <= 0.0:
            return 0.0
        u = self.rng.random()
        if u >= loss:  # the usual case: it arrives the first time
            return 0.0
        k = min(int(log(max(u, 1e-300)) / log(loss)), _MAX_BACKOFFS)
        return rto * ((1 << k) - 1)

    def send(self, src: str, dest: str, now: float, loss: float, cut_fwd: bool, cut_back: bool,
             latency: Callable[[], float]) -> Sent:
        """A frame from ``src`` to ``dest`` at ``now``: ``loss`` is each segment's chance of
        being lost (each way), ``cut_fwd``/``cut_back`` whether the link delivers nothing that
        way, ``latency`` draws the one-way delay of its path (the same both ways)."""
        o = self.o
        if now >= self._sweep_at:
            self._sweep(now)
        flights = self._in_flight.get(src)
        if flights is None:
            flights = self._in_flight[src] = []
        while flights and flights[0] <= now:
            heapq.heappop(flights)
        if len(flights) >= o.max_in_flight:
            self.refused += 1
            return _LOST
        deadline = now + o.timeout
        conn, start = self._pick(src, dest, now)
        if start >= deadline:  # waited for a connection until the timeout
            heapq.heappush(flights, deadline)
            self.timed_out += 1
            return Sent(None, None, deadline)
        t = start
        d = latency()  # one way; the path is the same length both ways
        if conn.open_until <= start:  # no usable connection: handshake first
            if cut_fwd or cut_back:
                t = inf
            else:
                both_ways = 1.0 - (1.0 - loss) ** 2  # a SYN or its SYN-ACK lost
                t += self._retries(both_ways, o.syn_rto) + 2 * d
        t = inf if cut_fwd else t + self._retries(loss, o.rto) + d
        if t > deadline:
            self._close(conn, flights, deadline)
            self.timed_out += 1
            return Sent(None, None, deadline)
        back = inf if cut_back else t + self._retries(loss, o.rto) + d
        if back > deadline:  # delivered, but the response never makes it: closed at the timeout
            self._close(conn, flights, deadline)
            self.replies_lost += 1
            return Sent(t, None, deadline)
        conn.free_at = back
        conn.open_until = back + o.keepalive
        heapq.heappush(flights, back)
        return Sent(t, back)

    def _pick(self, src: str, dest: str, now: float) -> tuple[_Conn, float]:
        """The connection a request takes, and when it can start: an idle open one, else an
        idle closed one, else a new one while the pool has room, else the first to come free."""
        key = (src, dest)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = []
        idle_closed: _Conn | None = None
        for c in pool:
            if c.free_at <= now:
                if c.open_until > now:
                    return c, now
                idle_closed = idle_closed or c
        if idle_closed is not None:
            return idle_closed, now
        if len(pool) < self.o.per_host:
            c = _Conn()
            pool.append(c)
            return c, now
        first = min(pool, key=lambda c: c.free_at)
        return first, first.free_at

    @staticmethod
    def _close(conn: _Conn, flights: list[float], at: float) -> None:
        conn.free_at = conn.open_until = at
        heapq.heappush(flights, at)

    def _sweep(self, now: float) -> None:
        """Forget pools whose every connection is idle and closed (the same as no pool), so a
        long run over many pairs keeps only the pairs talking lately."""
        self._sweep_at = now + self.o.keepalive
        self._pools = {k: pool for k, pool in self._pools.items()
                       if any(c.free_at > now or c.open_until > now for c in pool)}
        self._in_flight = {k: f for k, f in self._in_flight.items() if max(f, default=-inf) > now}
