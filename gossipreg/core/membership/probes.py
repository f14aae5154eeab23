"""The failure detector's probes in flight, the ping-req relays it serves, how it picks its
relays, and the order it probes members in.

Rules: a probe is identified by its sequence number; it may be answered directly, through
relays, or not at all by its end. Relays are drawn first from members that acked one of our
probes within ``GOOD_FOR`` probe intervals, then from the others, uniformly within each group.
The round robin visits every running member once per pass, in a fresh shuffle each pass; a new
member joins the current pass at a random place (not at the end, so that a burst of joins does
not all get probed last).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gossipreg.core.membership.table import Member, MemberTable
from gossipreg.core.types import MemberState

__all__ = ["GOOD_FOR", "Probe", "Relay", "Rotation", "choose_relays"]

GOOD_FOR = 10.0  # probe intervals an ack keeps a member a preferred ping-req relay


@dataclass(slots=True)
class Probe:
    target: str
    seq: int
    indirect_at: float
    end_at: float
    primary: bool  # the round-robin probe (its outcome feeds local health)
    acked: bool = False
    indirect_sent: bool = False
    expected_nacks: int = 0
    nacks: int = 0


@dataclass(slots=True)
class Relay:
    origin_addr: str
    origin_seq: int
    nack_at: float
    expire_at: float


def choose_relays(members: MemberTable, target: str, acked: dict[str, float], horizon: float,
                  k: int, rng: random.Random) -> list[Member]:
    """``k`` ping-req relays for a probe of ``target`` (fewer if there are not as many peers:
    ALIVE members but us and the target), drawn first among the peers that acked us at or after
    ``horizon`` (one that never did counts as acked at -1), then among the others; each group
    listed in table order, which the draw depends on."""
    me, alive = members.self_id, MemberState.ALIVE
    t = members.get(target)
    peers = (members.count(alive) - (members.me.state is alive)
             - (t is not None and target != me and t.state is alive))
    k = min(k, peers)
    if horizon > -1.0:  # the recent ones all acked since: no pass over the whole table
        good = members.in_order(
            [i for i, at in acked.items() if at >= horizon and i != me and i != target], alive)
    else:
        good = [x for x in members if x.state is alive and x.node_id not in (me, target)
                and acked.get(x.node_id, -1.0) >= horizon]
    chosen = rng.sample(good, min(k, len(good)))
    if len(chosen) < k:
        rest = [x for x in members if x.state is alive and x.node_id not in (me, target)
                and acked.get(x.node_id, -1.0) < horizon]
        chosen += rng.sample(rest, k - len(chosen))
    return chosen


class Rotation:
    """SWIM's shuffled round robin over the running members other than ourselves."""

    def __init__(self, members: MemberTable, rng: random.Random) -> None:
        self.members = members
        self.rng = rng
        self._order: list[str] = []
        self._pos = 0

    def next(self) -> str | None:
        """The next ALIVE or SUSPECT member to probe (None: there is none)."""
        for _ in range(2):
            while self._pos < len(self._order):
                node_id = self._order[self._pos]
                self._pos += 1
                m = self.members.get(node_id)
                if m is not None and m.state.running:
                    return node_id
            self._order = [m.node_id for m in self.members if m.node_id != self.members.self_id]
            self.rng.shuffle(self._order)
            self._pos = 0
        return None

    def add(self, node_id: str) -> None:
        """A new member joins the current pass at a random place ahead."""
        self._order.insert(self.rng.randint(self._pos, len(self._order)), node_id)
