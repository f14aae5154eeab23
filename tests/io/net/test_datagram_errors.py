"""The datagram endpoint after an ICMP error: Linux leaves a "port unreachable" pending on the
socket, and the next ``sendto`` to any peer fails with it. The endpoint must still deliver that
next frame (to a live peer) and name the dead one as unreachable. Real UDP sockets on
127.0.0.1, port 0; bounded waits."""

from __future__ import annotations

import socket
import sys

import pytest

from gossipreg.io.net.datagrams import DatagramEndpoint
from tests.support import until

pytestmark = [pytest.mark.network,
              pytest.mark.skipif(sys.platform != "linux", reason="IP_RECVERR is Linux's")]


def closed_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


async def endpoint(got: list[bytes], gone: list[str]) -> DatagramEndpoint:
    ep = await DatagramEndpoint.open("127.0.0.1", 0, lambda f, _: got.append(f), gone.append,
                                     1400)
    assert ep is not None
    return ep


def port_of(ep: DatagramEndpoint) -> int:
    assert ep._sock is not None
    return int(ep._sock.getsockname()[1])


@pytest.mark.parametrize("dead_peers", [1, 3])
async def test_a_dead_peer_does_not_cost_a_live_one_its_next_datagram(dead_peers: int) -> None:
    sent_got: list[bytes] = []
    live_got: list[bytes] = []
    gone: list[str] = []
    sender = await endpoint(sent_got, gone)
    live = await endpoint(live_got, [])
    try:
        dead = [closed_port() for _ in range(dead_peers)]
        for port in dead:
            assert sender.send(f"127.0.0.1:{port}", "127.0.0.1", port, b"to the dead")
        # On loopback the kernel queues the ICMP error within the send, so the next send (the
        # loop has not run in between) is the call that meets it.
        for i in range(3):
            assert sender.send("live", "127.0.0.1", port_of(live), b"frame %d" % i)
        assert await until(lambda: len(live_got) == 3, 5), live_got
        assert live_got == [b"frame 0", b"frame 1", b"frame 2"]
        assert await until(lambda: set(gone) == {f"127.0.0.1:{p}" for p in dead}, 5), gone
        assert sender.stats()["dropped"].get("icmp_unreachable", 0) >= dead_peers
    finally:
        sender.close()
        live.close()


async def test_a_reply_after_an_icmp_error_is_delivered() -> None:
    got: list[bytes] = []
    gone: list[str] = []
    sender = await endpoint([], gone)
    live = await endpoint(got, [])
    try:
        port = closed_port()
        sender.send(f"127.0.0.1:{port}", "127.0.0.1", port, b"to the dead")
        sender.reply(("127.0.0.1", port_of(live)), b"an ack")
        assert await until(lambda: got == [b"an ack"], 5), got
    finally:
        sender.close()
        live.close()
