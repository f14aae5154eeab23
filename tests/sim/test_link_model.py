"""The simulator's model of the shipped transport (sim/links.py): a link costs a handshake and
an upgrade once, its frames arrive in order (a retransmitted one holds back those behind it),
a dial through a cut fails at the timeout and backs off, a frame on a cut link is lost
silently; in a cluster, frames take datagrams, links or HTTP as the transport would.
Virtual time only."""

from __future__ import annotations

import random

import pytest

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from sim.cluster import Cluster, NetOptions
from sim.links import DATAGRAM, HTTP, LINK, LINK_REPLY, LinkOptions, LinkPaths
from sim.tcp import TcpOptions

LAT = 0.001


def _lat() -> float:
    return LAT


def paths(seed: int = 1) -> LinkPaths:
    return LinkPaths(random.Random(seed), TcpOptions(), LinkOptions())


def test_a_link_costs_a_handshake_and_an_upgrade_once_then_one_way_per_frame() -> None:
    p = paths()
    first = p.send("a", "b", 0.0, 0.0, False, False, _lat)
    assert first is not None and first.deliver_at == pytest.approx(5 * LAT)
    assert first.reply_at == LINK_REPLY
    again = p.send("a", "b", 1.0, 0.0, False, False, _lat)
    assert again is not None and again.deliver_at == pytest.approx(1.0 + LAT)
    assert p.dials == 1
    late = p.send("a", "b", 100.0, 0.0, False, False, _lat)  # idle past 60 s: dialed again
    assert late is not None and late.deliver_at == pytest.approx(100.0 + 5 * LAT)
    assert p.dials == 2


def test_frames_of_a_link_arrive_in_order_behind_a_retransmitted_one() -> None:
    p = paths(seed=5)
    p.send("a", "b", 0.0, 0.0, False, False, _lat)
    arrivals = []
    for i in range(2000):
        s = p.send("a", "b", 1.0 + i * 0.01, 0.1, False, False, _lat)
        assert s is not None and s.deliver_at is not None
        arrivals.append(s.deliver_at)
    assert arrivals == sorted(arrivals)
    # Head-of-line blocking: some frame, not itself retransmitted, waited behind another.
    sent_at = [1.0 + i * 0.01 for i in range(2000)]
    held = [a - t for a, t in zip(arrivals, sent_at, strict=True)
            if LAT * 1.5 < a - t < 0.2 - 0.01]
    assert held


def test_replies_ride_back_in_order_and_a_cut_loses_them() -> None:
    p = paths()
    first = p.reply("a", "b", 1.0, 0.0, False, _lat)
    assert first == pytest.approx(1.0 + LAT)
    assert p.reply("a", "b", 0.5, 0.0, False, _lat) == pytest.approx(1.0 + LAT)  # in order
    assert p.reply("a", "b", 2.0, 0.0, True, _lat) is None


def test_a_dial_through_a_cut_fails_at_the_timeout_and_backs_off_to_http() -> None:
    p = paths()
    s = p.send("a", "b", 0.0, 0.0, True, False, _lat)
    assert s is not None and s.deliver_at is None and s.failed_at == pytest.approx(2.0)
    assert p.send("a", "b", 2.05, 0.0, False, False, _lat) is None  # backing off: HTTP
    s = p.send("a", "b", 3.0, 0.0, False, False, _lat)  # 0.2 s x 0.5..1.5 after the failure
    assert s is not None and s.deliver_at == pytest.approx(3.0 + 5 * LAT)


def test_a_frame_on_a_cut_link_is_lost_and_nobody_is_told() -> None:
    p = paths()
    p.send("a", "b", 0.0, 0.0, False, False, _lat)
    s = p.send("a", "b", 1.0, 0.0, True, False, _lat)
    assert s is not None and s.deliver_at is None and s.failed_at is None


def test_a_cluster_uses_each_path_as_the_transport_would() -> None:
    c = Cluster(seed=4, config=NodeConfig.lan(heartbeat_timeout=None),
                net=NetOptions(loss=0.05))
    for i in range(6):
        c.add_node(f"n{i}", seeds=["n0"] if i else [])
    assert c.run_until_true(c.all_alive_everywhere, 20.0) is not None
    c.run_for(20.0)
    assert c.links is not None
    by_path = list(c.links.by_path)
    assert by_path[HTTP] > 0 and by_path[DATAGRAM] > by_path[HTTP]  # joins, then datagrams
    c.node("n1").register(make_record("big", None, "rt", ["x"], description="d" * 7000),
                          c.now, wall=c.wall("n1"))
    assert c.run_until_true(
        lambda: all(c.node(n).read.get("big") is not None for n in c.live()), 20.0) is not None
    assert c.links.by_path[LINK] > by_path[LINK]  # the large write went over links
    c.crash("n5")
    assert c.run_until_true(lambda: all(
        c.member_view(n)["n5"].name == "DEAD" for n in c.live()), 30.0) is not None


def test_silence_after_a_datagram_is_a_hint_and_any_datagram_back_cancels_it() -> None:
    p = paths()
    assert not p.datagram_sent("a", "b", 0.0) and not p.datagram_sent("a", "c", 0.1)
    assert not p.datagram_sent("a", "b", 1.0)  # too soon to call it silence
    assert p.datagram_sent("a", "b", 2.5)  # silent for 2.5 s: a hint
    assert not p.datagram_sent("a", "c", 2.6)  # silent too, but one hint a second at most
    assert p.datagram_sent("a", "c", 3.6)
    assert not p.datagram_sent("a", "b", 4.4)  # (the window restarted at the hint)
    p.heard("a", "b")  # an answer: not silent after all
    assert not p.datagram_sent("a", "b", 5.0) and not p.datagram_sent("a", "b", 6.0)
    assert not p.datagram_sent("a", "b", 20.0)  # an old first send is no evidence
    assert p.silence_hints == 2
