"""The simulator's TCP model (sim/tcp.py): a loss is a delay, only the timeout loses a frame,
connections are pooled, opened with a handshake and closed by a timeout, and a sender holds a
bounded number of requests. Virtual time only."""

from __future__ import annotations

import random
import statistics

import pytest

from sim.cluster import Cluster, NetOptions
from sim.tcp import TcpOptions, TcpPaths

LAT = 0.001


def _lat() -> float:
    return LAT


def paths(seed: int = 1, **o: float) -> TcpPaths:
    return TcpPaths(random.Random(seed), TcpOptions(**o))  # type: ignore[arg-type]


def test_a_new_connection_costs_a_round_trip_and_a_pooled_one_does_not() -> None:
    p = paths()
    first = p.send("a", "b", 0.0, 0.0, False, False, _lat)
    assert first.deliver_at == pytest.approx(3 * LAT)  # SYN, SYN-ACK, then the request
    assert first.reply_at == pytest.approx(4 * LAT)
    again = p.send("a", "b", 1.0, 0.0, False, False, _lat)
    assert again.deliver_at == pytest.approx(1.0 + LAT)
    # Idle past the keep-alive: closed, so a handshake again.
    late = p.send("a", "b", 40.0, 0.0, False, False, _lat)
    assert late.deliver_at == pytest.approx(40.0 + 3 * LAT)


def test_loss_delays_frames_by_retransmission_and_loses_only_past_the_timeout() -> None:
    p = paths(seed=7)
    sent = [p.send("a", "b", float(i), 0.2, False, False, _lat) for i in range(4000)]
    delays = [s.deliver_at - i for i, s in enumerate(sent) if s.deliver_at is not None]
    lost = sum(s.deliver_at is None for s in sent)
    # With 20% loss a datagram model would lose ~800 of 4000 frames; over TCP a frame is lost
    # only after about 4 losses of the same segment in a row (0.2 x (2^4 - 1) s > 2 s).
    assert 0 < lost < 40
    assert p.timed_out + p.replies_lost >= lost
    assert statistics.median(delays) == pytest.approx(LAT)
    retried = [d for d in delays if d > 0.1]
    assert 0.15 < len(retried) / len(delays) < 0.3  # about one frame in five is retransmitted
    assert min(retried) == pytest.approx(0.2 + LAT, abs=1e-9)  # one RTO
    assert any(d == pytest.approx(0.6 + LAT) for d in delays)  # two: 0.2 + 0.4


def test_a_cut_link_loses_the_frame_at_the_timeout_and_the_connection_with_it() -> None:
    p = paths()
    p.send("a", "b", 0.0, 0.0, False, False, _lat)
    s = p.send("a", "b", 1.0, 0.0, True, False, _lat)
    assert s.deliver_at is None and s.failed_at == pytest.approx(3.0)
    # After the heal the closed connection costs a handshake.
    s = p.send("a", "b", 3.5, 0.0, False, False, _lat)
    assert s.deliver_at == pytest.approx(3.5 + 3 * LAT)


def test_a_one_way_cut_delivers_on_a_pooled_connection_but_the_reply_is_lost() -> None:
    p = paths()
    p.send("a", "b", 0.0, 0.0, False, False, _lat)
    s = p.send("a", "b", 1.0, 0.0, False, True, _lat)
    assert s.deliver_at == pytest.approx(1.0 + LAT)
    assert s.reply_at is None and s.failed_at == pytest.approx(3.0)
    # A new connection cannot even be opened: its SYN-ACK never comes back.
    s = p.send("a", "b", 4.0, 0.0, False, True, _lat)
    assert s.deliver_at is None


def test_requests_wait_for_a_free_connection_beyond_the_per_host_limit() -> None:
    p = paths(per_host=2)
    a = p.send("a", "b", 0.0, 0.0, False, True, _lat)  # both held until the timeout
    b = p.send("a", "b", 0.0, 0.0, False, True, _lat)
    assert a.deliver_at is None and b.deliver_at is None  # no handshake through a cut
    c = p.send("a", "b", 0.0, 0.0, False, False, _lat)
    assert c.deliver_at is None and c.failed_at == pytest.approx(2.0)  # waited out its time
    d = p.send("a", "b", 0.5, 0.0, False, False, _lat)
    assert d.deliver_at == pytest.approx(2.0 + 3 * LAT)  # behind them: a slot frees at 2.0


def test_a_sender_holds_a_bounded_number_of_requests() -> None:
    p = paths(max_in_flight=4)
    fates = [p.send("a", f"d{i}", 0.0, 0.0, True, False, _lat) for i in range(6)]
    assert [f.failed_at for f in fates[4:]] == [None, None] and p.refused == 2
    assert p.send("a", "d9", 2.5, 0.0, False, False, _lat).deliver_at is not None


def test_a_cluster_over_tcp_loses_nothing_until_cut_and_heals() -> None:
    c = Cluster(seed=3, net=NetOptions(loss=0.0, model="tcp"))
    for i in range(4):
        c.add_node(f"n{i}", seeds=["n0"] if i else [])
    # Acks ride in their pings' responses: were they lost, probes would fail.
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    c.run_for(30.0)
    assert c.dropped == 0 and c.tcp is not None and c.tcp.timed_out == 0
    assert c.all_alive_everywhere()
    c.partition(["n0", "n1"], ["n2", "n3"])
    c.run_for(40.0)
    assert c.tcp.timed_out > 0 and c.dropped > 0
    assert c.member_view("n0")["n2"].name == "DEAD"
    c.repair()
    assert c.run_until_true(c.all_alive_everywhere, 30.0) is not None


def test_duplicates_need_the_datagram_model() -> None:
    with pytest.raises(ValueError, match="datagram"):
        NetOptions(duplicate=0.1)
    with pytest.raises(ValueError, match="tcp"):
        NetOptions(model="udp")
    assert NetOptions(model="datagram", duplicate=0.1).duplicate == 0.1
