"""A join under a live member's name from another address (core/membership/nameguard.py):
held while the known owner is probed as SWIM probes a member, so one lost ping or ack does not
hand a live name to a second process; an owner that stays silent to the end is a restart."""

from __future__ import annotations

import random
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.membership.nameguard import NameGuard
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.types import MemberState
from gossipreg.core.wire.fields import MemberRow
from gossipreg.core.wire.messages import Ack, Message, Ping, PingReq, Sync, SyncAck

CFG = NodeConfig.lan()  # probe_timeout 0.5 s, probe_interval 1 s, 3 indirect checks


class _Out:
    """Records what the guard and the failure detector send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message, bool]] = []

    def send(self, addr: str, msg: Message, stream: bool = False) -> None:
        self.sent.append((addr, msg, stream))

    def gossip_member(self, node_id: str, msg: Message, now: float) -> None:
        pass

    def take(self) -> list[tuple[str, Message, bool]]:
        out, self.sent = self.sent, []
        return out


def _guard() -> tuple[NameGuard, _Out, list[tuple[str, str]]]:
    members = MemberTable("seed", "seed:1", 1, 0.0)
    members.alive("b", "b-old:1", 1, 0, 0.0)  # the name's live owner
    for i in range(4):
        members.alive(f"p{i}", f"p{i}:1", 1, 0, 0.0)
    out = _Out()
    swim = Swim(CFG, members, out, lambda *a: None, random.Random(7), 0.0)
    merged: list[tuple[str, str]] = []

    def merge(msg: Sync, node_id: str, addr: str, now: float) -> None:
        merged.append((node_id, addr))

    return NameGuard(members, CFG, Metrics(), out, swim, merge), out, merged


def _join() -> Sync:
    row = MemberRow("b", "b-new:1", 2, 0, MemberState.ALIVE)
    return Sync(41, {}, b"", (row,), True)


def _run(guard: NameGuard, until: float) -> None:
    """Fire the guard's timers up to ``until``, as the node would."""
    while (t := guard.next_deadline()) <= until:
        guard.tick(t)


def _ping_seq(sent: list[tuple[str, Any, bool]]) -> int:
    pings = [m for addr, m, _ in sent if isinstance(m, Ping) and addr == "b-old:1"]
    assert pings and all(p.target == "b" for p in pings)
    return int(pings[0].seq)


def test_a_live_owner_whose_first_ping_is_lost_still_keeps_its_name() -> None:
    guard, out, merged = _guard()
    assert guard.hold(_join(), "b", "b-new:1", 0.0)
    seq = _ping_seq(out.take())  # this ping (or its ack) is lost
    _run(guard, CFG.probe_timeout)
    second = out.take()
    relays = [(addr, m) for addr, m, _ in second if isinstance(m, PingReq)]
    assert len(relays) == CFG.indirect_checks
    assert all(m.seq == seq and m.target == "b" and m.target_addr == "b-old:1"
               for _, m in relays)
    assert {addr for addr, _ in relays} <= {f"p{i}:1" for i in range(4)}
    assert [(addr, stream) for addr, m, stream in second
            if isinstance(m, Ping)] == [("b-old:1", True)]  # the stream fallback ping
    # A relay's ack comes back before the end of the interval: the newcomer is refused.
    assert guard.on_ack(Ack(seq), 0.8)
    assert any(addr == "b-new:1" and isinstance(m, SyncAck) for addr, m, _ in out.take())
    assert guard.refuses("b", "b-new:1", 0.9)
    _run(guard, 10.0)
    assert merged == []


def test_an_owner_silent_through_the_whole_probe_is_gone_and_the_join_merges() -> None:
    guard, out, merged = _guard()
    assert guard.hold(_join(), "b", "b-new:1", 0.0)
    _run(guard, CFG.probe_interval - 0.01)
    assert merged == []  # still checking: the ping requests went out at probe_timeout
    assert any(isinstance(m, PingReq) for _, m, _ in out.take())
    _run(guard, CFG.probe_interval)
    assert merged == [("b", "b-new:1")]
    assert not guard.refuses("b", "b-new:1", 1.5)
    assert guard.next_deadline() == float("inf")


def test_a_retry_of_a_held_join_sends_no_second_check() -> None:
    guard, out, _ = _guard()
    assert guard.hold(_join(), "b", "b-new:1", 0.0)
    out.take()
    assert guard.hold(_join(), "b", "b-new:1", 0.3)
    assert out.take() == []
