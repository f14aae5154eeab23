"""Duplicate node names: a join that claims a live member's name from another address.

Rules:
- A join (a SYNC with ``join`` set) from ``node_id`` at an address other than the one we know
  for that ALIVE or SUSPECT member, with another generation, is held, not merged: we ping the
  known address once. An ack within ``probe_timeout`` means two live processes claim one name:
  the newcomer is refused (an answer carrying our table, where it finds its name at the other
  address) and its packets are dropped while the older member lives. No ack: the old process is
  gone (a restart at a new address) and the held join is merged as usual.
- A join from the known address is a restart in place and is never held; nor is one naming a
  DEAD or LEFT member.
- Held joins and refusals are bounded (a flood of forged joins cannot grow them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from gossipreg.core.config import NodeConfig
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.types import MemberState
from gossipreg.core.wire.messages import Ack, Ping, Sender, Sync, SyncAck

__all__ = ["NameGuard"]

log = logging.getLogger("gossipreg.core.names")

_MAX_HELD = 64
_MAX_REFUSED = 1024
_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)
_NEVER = float("inf")


@dataclass(slots=True)
class _Held:
    msg: Sync
    node_id: str
    addr: str  # the newcomer's
    known_addr: str  # the member's we know
    deadline: float


class NameGuard:
    """Held joins and refused newcomers of one node. ``merge`` takes a held join in once its
    check came back clean."""

    def __init__(self, members: MemberTable, cfg: NodeConfig, metrics: Metrics, out: Sender,
                 swim: Swim, merge: Callable[[Sync, str, str, float], None]) -> None:
        self.members = members
        self.cfg = cfg
        self.metrics = metrics
        self.out = out
        self.swim = swim
        self.merge = merge
        self._held: dict[int, _Held] = {}  # by the seq of the ping to the known address
        self._refused: dict[tuple[str, str], float] = {}  # (node_id, addr) -> until

    def next_deadline(self) -> float:
        if not self._held:
            return _NEVER
        return min(h.deadline for h in self._held.values())

    def refuses(self, node_id: str, addr: str, now: float) -> bool:
        """Whether packets from ``node_id`` at ``addr`` are dropped (a refused duplicate)."""
        if not self._refused:
            return False
        until = self._refused.get((node_id, addr))
        if until is None:
            return False
        m = self.members.get(node_id)
        if now >= until or m is None or m.state not in _LIVE or m.addr == addr:
            del self._refused[(node_id, addr)]
            return False
        return True

    def hold(self, msg: Sync, src_id: str, src_addr: str, now: float) -> bool:
        """Whether this join is held while we check the name's known owner."""
        if not msg.join or msg.members is None:
            return False
        m = self.members.get(src_id)
        if m is None or m.addr == src_addr or m.state not in _LIVE:
            return False
        claim = next((r for r in msg.members if r.node == src_id), None)
        if claim is None or claim.generation == m.generation:
            return False
        if any(h.node_id == src_id and h.addr == src_addr for h in self._held.values()):
            return True  # a retry of a join we are already checking
        if len(self._held) >= _MAX_HELD:
            return True  # busy: the newcomer retries
        seq = self.swim.new_seq()  # the probes' sequence: acks cannot be confused
        self._held[seq] = _Held(msg, src_id, src_addr, m.addr,
                                now + self.cfg.probe_timeout)
        self.out.send(m.addr, Ping(seq, src_id))
        return True

    def on_ack(self, msg: Ack, now: float) -> bool:
        """An ack to one of our checks (True: consumed): the known owner lives, so the
        newcomer is refused."""
        h = self._held.pop(msg.seq, None)
        if h is None:
            return False
        if len(self._refused) >= _MAX_REFUSED:
            self._refused.clear()
        self._refused[(h.node_id, h.addr)] = now + self.cfg.dead_retention
        self.metrics.drop("duplicate_name", now, h.addr)
        log.warning("refused a join as %r from %s: that name belongs to a live node at %s",
                    h.node_id, h.addr, h.known_addr)
        self.out.send(h.addr, SyncAck(h.msg.xid, (), None, self.swim.rows(), False))
        return True

    def tick(self, now: float) -> None:
        """Joins whose check went unanswered are restarts: merge them."""
        for seq, h in list(self._held.items()):
            if now >= h.deadline:
                del self._held[seq]
                self.merge(h.msg, h.node_id, h.addr, now)
