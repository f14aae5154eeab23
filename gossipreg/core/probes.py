"""The failure detector's probes in flight, the ping-req relays it serves, and how it picks
its relays.

Rules: a probe is identified by its sequence number; it may be answered directly, through
relays, or not at all by its end. Relays are drawn first from members that acked one of our
probes within ``GOOD_FOR`` probe intervals, then from the others, uniformly within each group.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gossipreg.core.membership import Member

__all__ = ["GOOD_FOR", "Probe", "Relay", "choose_relays"]

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


def choose_relays(peers: list[Member], k: int, acked: dict[str, float], horizon: float,
                  rng: random.Random) -> list[Member]:
    """``k`` relays among ``peers``: those that acked us at or after ``horizon`` first."""
    good = [x for x in peers if acked.get(x.node_id, -1.0) >= horizon]
    chosen = rng.sample(good, min(k, len(good)))
    if len(chosen) < k:
        rest = [x for x in peers if acked.get(x.node_id, -1.0) < horizon]
        chosen += rng.sample(rest, k - len(chosen))
    return chosen
