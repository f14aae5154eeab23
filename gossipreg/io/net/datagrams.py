"""UDP datagrams for small frames: one socket on the node's own port number.

Rules:

- The socket is bound to the HTTP server's host and port number (UDP and TCP ports are
  distinct), so a peer reaches it at the address it already knows. A host that is not an IP
  literal, or a port already taken for UDP, leaves the node without datagrams: it then does not
  announce them (``Feature.DATAGRAM``), and peers keep to its streams.
- Frames are sent from this socket, so a datagram's source is its sender's listening address;
  only to an IP literal of the socket's family (no name lookup on the event loop), and only a
  frame of at most ``max_size`` bytes (the caller sends larger ones over a stream).
- Sending never blocks nor queues without bound: while asyncio holds more than its high-water
  mark (64 KiB) of what the kernel would not take (it pauses the protocol), a frame is dropped
  and counted (gossip tolerates loss).
- A datagram over ``max_size`` is dropped and counted; every other one goes to the node, which
  authenticates it (garbage, a wrong key or cluster: dropped and counted there by reason).
  The event loop reads one datagram per turn, so a flood costs CPU but never starves the
  node's other work; what the kernel cannot buffer it drops.
- An ICMP error for a datagram we sent (port unreachable: the peer's process is gone) is read
  from the socket's error queue (``IP_RECVERR``, Linux) and reported for that destination
  as ``unreachable`` (on the loop's next turn), as a refused connection is on a stream.
- Linux also leaves that error pending on the socket, and the next ``sendto`` to *any* peer
  fails with it (asyncio hands the error to ``error_received`` and drops the frame). So a
  frame whose send met a pending error is sent once more after the error queue is read: a
  dead peer must not cost a live one its next datagram (a lost probe, a false suspicion).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

__all__ = ["DatagramEndpoint", "ip_literal"]

# Linux's socket options for ICMP errors on unconnected sockets (not in Python's module).
_RECVERR: dict[int, tuple[int, int]] = {socket.AF_INET: (socket.IPPROTO_IP, 11),
                                         socket.AF_INET6: (socket.IPPROTO_IPV6, 25)}
_NAMES_KEPT = 4096  # destinations remembered to name an ICMP error's address


def ip_literal(host: str) -> int | None:
    """The address family of ``host`` when it is an IP literal (None for a name)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


class DatagramEndpoint(asyncio.DatagramProtocol):
    """The node's UDP socket (see the module rules). ``deliver(frame, (ip, port))`` gets every
    datagram; ``unreachable(addr)`` each destination an ICMP error named (``addr`` as it was
    given to :meth:`send`)."""

    def __init__(self, deliver: Callable[[bytes, tuple[str, int]], None],
                 unreachable: Callable[[str], None], max_size: int,
                 sock: socket.socket | None = None) -> None:
        self._deliver = deliver
        self._unreachable = unreachable
        self.max_size = max_size
        self.family: int = sock.family if sock is not None else socket.AF_INET
        self._paused = False  # asyncio's send buffer is over its high-water mark
        self._sock = sock  # ours, to read its error queue
        self._transport: asyncio.DatagramTransport | None = None
        self._names: dict[tuple[str, int], str] = {}
        self._sending: tuple[bytes, tuple[str, int]] | None = None  # inside transport.sendto
        self.sent = self.received = self.bytes_sent = self.bytes_received = 0
        self.resent = 0  # frames sent again after a pending ICMP error refused them
        self.dropped: Counter[str] = Counter()  # by reason: oversized_in, buffer_full, ...

    @classmethod
    async def open(cls, host: str, port: int, deliver: Callable[[bytes, tuple[str, int]], None],
                   unreachable: Callable[[str], None], max_size: int) -> DatagramEndpoint | None:
        """Bind ``host:port`` for UDP; None when that cannot be done (see the rules)."""
        family = ip_literal(host)
        if family is None:
            return None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        level, option = _RECVERR[family]
        with contextlib.suppress(OSError):  # not Linux: no unreachable hints from datagrams
            sock.setsockopt(level, option, 1)
        ep = cls(deliver, unreachable, max_size, sock)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: ep, sock=sock)
        return ep

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's datagram transport does not subclass DatagramTransport before 3.12.)
        self._transport = cast(asyncio.DatagramTransport, transport)

    def takes(self, host: str) -> bool:
        """Whether a datagram can go to ``host`` (an IP literal of our family)."""
        return self._transport is not None and ip_literal(host) == self.family

    def send(self, addr: str, host: str, port: int, frame: bytes) -> bool:
        """Send ``frame`` to ``host:port`` (``addr`` names it for ICMP errors); False when it
        was dropped (see the rules)."""
        t = self._transport
        if t is None or t.is_closing():
            return False
        if self._paused:
            self.dropped["buffer_full"] += 1
            return False
        key = (host, port)
        if key not in self._names:
            if len(self._names) >= _NAMES_KEPT:
                self._names.clear()
            self._names[key] = addr
        self._send(t, frame, key)
        self.sent += 1
        self.bytes_sent += len(frame)
        return True

    def _send(self, t: asyncio.DatagramTransport, frame: bytes, to: tuple[str, int]) -> None:
        self._sending = (frame, to)
        try:
            t.sendto(frame, to)
        finally:
            self._sending = None

    def reply(self, peer: tuple[str, int], frame: bytes) -> None:
        """Answer a datagram's source (its sender's listening address)."""
        if self._paused:
            self.dropped["buffer_full"] += 1
        elif self._transport is not None and not self._transport.is_closing():
            self._send(self._transport, frame, peer)
            self.sent += 1
            self.bytes_sent += len(frame)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def datagram_received(self, data: bytes, peer: tuple[str, int]) -> None:
        self.received += 1
        self.bytes_received += len(data)
        if len(data) > self.max_size:
            self.dropped["oversized_in"] += 1
            return
        self._deliver(data, (peer[0], peer[1]))

    def error_received(self, exc: Exception) -> None:
        """A pending ICMP error: name each destination the error queue holds; a frame whose
        send it refused goes again (see the rules)."""
        refused, self._sending = self._sending, None
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):
            try:
                _, _, _, where = sock.recvmsg(1, 1024, socket.MSG_ERRQUEUE)
            except OSError:  # empty (BlockingIOError), or no error queue here
                break
            addr = self._names.get((where[0], where[1])) if isinstance(where, tuple) else None
            if addr is not None:  # told on the next turn: this may run inside a send
                self.dropped["icmp_unreachable"] += 1
                asyncio.get_running_loop().call_soon(self._unreachable, addr)
        t = self._transport
        if refused is not None and t is not None and not t.is_closing():
            self.resent += 1  # once: ``_sending`` is None now, so a second refusal drops it
            t.sendto(*refused)

    def stats(self) -> dict[str, Any]:
        return {"sent": self.sent, "received": self.received, "bytes_sent": self.bytes_sent,
                "bytes_received": self.bytes_received, "resent": self.resent,
                "dropped": dict(self.dropped)}

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
