"""Anti-entropy exchanges (the slow path), joins and reconnection to dead members.

Rules (the measurements behind them: docs/design/gossip.md):
- Every ``push_pull_interval`` (stretched above 32 nodes) a node opens a three-way exchange with
  one random live peer: SYNC (our digest, the hash of our member table) -> SYNC_ACK (the deltas
  we lack, the peer's digest when we have something for it, its table when the hashes differ)
  -> SYNC_ACK2 (the deltas it lacks, our table when asked). A member table travels with the
  members' feature bits.
- A join is a SYNC carrying our member table to every seed, retried every
  ``join_retry_interval`` until one seed answers; the joiner then announces itself directly to
  up to ``ANNOUNCE_MAX`` members.
- A hole in an owner's versions that outlives ``gap_repair_delay`` opens an exchange with that
  owner (or a random live member when it is gone); a hole a beacon revealed is due at once.
- A join answer counts when it answers one of our join SYNCs (by exchange id). One that lists
  our own name at another live address is a refusal (``nameguard``): joining stops.
- A packet from a sender we do not know, or hold DEAD, opens an exchange with it (at most once
  per ``reconnect_interval`` per sender); so does a member that restarted while we hold its
  previous generation's state (the directory holds it until the new state is here).
- Every ``reconnect_interval``, with probability dead/live, one DEAD member gets a SYNC; while
  members are recently DEAD (within ``gossip_to_dead_time``) the same happens every
  ``probe_interval`` with probability recent/live.
- A SYNC or SYNC_ACK from a member we hold DEAD sends a SYNC at once to up to
  ``gossip_fanout`` other DEAD members (at most once per ``probe_interval``), and opens a
  healing window of ``HEALING`` probe intervals in which one member still held DEAD gets a SYNC
  every probe interval.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import push_pull_scale
from gossipreg.core.membership.nameguard import NameGuard
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import Member, MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.replica.store import OwnerDelta, Replica
from gossipreg.core.types import MemberState
from gossipreg.core.wire.messages import MemberRow, Sender, Sync, SyncAck, SyncAck2

__all__ = ["ANNOUNCE_MAX", "HEALING", "AntiEntropy", "AntiEntropyOut"]

ANNOUNCE_MAX = 128
_NEVER = float("inf")
_BEHIND = (-1, -1)  # below every digest's (generation, watermark)
HEALING = 3  # probe intervals of the healing window (see the rules)


class AntiEntropyOut(Sender, Protocol):
    """Where exchanges go, and who was declared DEAD lately (the node's dissemination)."""

    def has_recent_dead(self) -> bool: ...
    def recent_dead(self, now: float) -> list[Member]: ...


class AntiEntropy:
    """The exchange timers and handlers of one self. ``apply_delta`` takes a peer's deltas
    into the directory (its replica and view); ``seal`` signs what we send of our own state."""

    def __init__(self, node_id: str, addr: str, generation: int, cfg: NodeConfig,
                 rng: random.Random, members: MemberTable, metrics: Metrics,
                 out: AntiEntropyOut, swim: Swim, replica: Replica,
                 apply_delta: Callable[[Iterable[OwnerDelta], float], None],
                 now: float, seal: Callable[[list[OwnerDelta]], list[OwnerDelta]] | None = None
                 ) -> None:
        self.id = node_id
        self.addr = addr
        self.generation = generation
        self.cfg = cfg
        self.rng = rng
        self.members = members
        self.metrics = metrics
        self.out = out
        self.swim = swim
        self.replica = replica
        self.apply_delta = apply_delta
        self.seal = seal if seal is not None else (lambda deltas: deltas)
        self.joined_via: str | None = None  # the member whose answer took our join
        self.joined = True
        self.refused: str | None = None  # why a seed refused our join (a duplicate name)
        self.guard = NameGuard(members, cfg, metrics, out, swim, self._merge_checked_join)
        self._seeds: list[str] = []
        self._join_xids: set[int] = set()
        self._xid = 0
        self.next_join = float("inf")
        self.next_push_pull = now + rng.uniform(0.5, 1.0) * cfg.push_pull_interval
        self.next_reconnect = now + cfg.reconnect_interval
        self.next_fresh = now + cfg.probe_interval  # attempts on recently dead members
        self._next_rush = now  # earliest next burst to DEAD members (one heard from us)
        self._healing_until = -_NEVER  # see the rules
        self._contacted: dict[str, float] = {}  # unknown senders we opened an exchange with
        self._next_contact = now
        self._repaired: dict[str, float] = {}  # owner -> when we last asked for its gap

    def next_deadline(self) -> float:
        fresh = (self.next_fresh if self.out.has_recent_dead()
                 or self._healing_until > self.next_fresh else _NEVER)
        return min(self.next_join, self.next_push_pull, self.next_reconnect, fresh,
                   self._next_repair(), self.guard.next_deadline())

    def _repair_due(self, owner: str, since: float) -> float:
        """When a hole of ``owner`` open ``since`` is to be asked for."""
        delay = self.cfg.gap_repair_delay
        last = self._repaired.get(owner)
        return since + delay if last is None else max(since + delay, last + delay)

    def _next_repair(self) -> float:
        gaps = self.replica.gaps()
        if not gaps:
            return _NEVER
        return min(self._repair_due(o, since) for o, since in gaps.items())

    def tick(self, now: float) -> None:
        cfg = self.cfg
        if now >= self.next_join and not self.joined:
            self._send_join(now)
        self.guard.tick(now)
        if now >= self.next_push_pull:
            self.next_push_pull = now + push_pull_scale(cfg.push_pull_interval,
                                                        self.members.live_count())
            live = self.members.live_others
            if live:
                peer = self.members.get(self.rng.choice(live))
                assert peer is not None
                self.out.send(peer.addr, self._sync(None, join=False))
        if self.replica.gaps():
            self._repair_gaps(now)
        if now >= self.next_reconnect:
            self.next_reconnect = now + cfg.reconnect_interval
            dead = [m for m in self.members if m.state is MemberState.DEAD and m.addr]
            # With probability dead/live (as Serf does), so that the cluster as a whole makes
            # about one attempt per dead member and interval, whatever its size.
            if dead and self.rng.random() < len(dead) / max(1, self.members.live_count()):
                # Without our table: a member that is really alive sees the table hashes
                # differ and asks for it; a dead one costs us the digest only.
                self.out.send(self.rng.choice(dead).addr, self._sync(None, join=False))
        healing = now < self._healing_until
        if not healing and not self.out.has_recent_dead():
            self.next_fresh = now + cfg.probe_interval
        elif now >= self.next_fresh:
            self.next_fresh = now + cfg.probe_interval
            if healing:
                dead = [m for m in self.members if m.state is MemberState.DEAD and m.addr]
                if dead:
                    self.out.send(self.rng.choice(dead).addr, self._sync(None, join=False))
            elif (recent := self.out.recent_dead(now)) and \
                    self.rng.random() < len(recent) / max(1, self.members.live_count()):
                self.out.send(self.rng.choice(recent).addr, self._sync(None, join=False))

    def revived(self, now: float) -> None:
        """A member we held DEAD is ALIVE again: open the healing window (module rules)."""
        self._healing_until = now + HEALING * self.cfg.probe_interval
        self.next_fresh = now  # the first attempt at once

    def _heard_from(self, src_id: str, now: float) -> None:
        """A slow-path packet came from ``src_id``: if we hold it DEAD, the path works again,
        so a few other DEAD members get a SYNC now (see the module rules)."""
        m = self.members.get(src_id)
        if m is None or m.state is not MemberState.DEAD or now < self._next_rush:
            return
        self._next_rush = now + self.cfg.probe_interval
        self.revived(now)
        dead = [x for x in self.members
                if x.state is MemberState.DEAD and x.addr and x.node_id != src_id]
        for x in self.rng.sample(dead, min(len(dead), self.cfg.gossip_fanout)):
            self.out.send(x.addr, self._sync(None, join=False))

    def _repair_gaps(self, now: float) -> None:
        delay = self.cfg.gap_repair_delay
        for owner, since in list(self.replica.gaps().items()):
            if self._repair_due(owner, since) > now:  # the deadline's own expression
                continue
            self._repaired[owner] = now
            m = self.members.get(owner)
            if m is None or m.state not in (MemberState.ALIVE, MemberState.SUSPECT):
                live = self.members.live_others
                m = self.members.get(self.rng.choice(live)) if live else None
            if m is not None:
                self.metrics.gap_repairs += 1
                self.out.send(m.addr, self._sync(None, join=False))
        if len(self._repaired) > 4096:
            self._repaired = {o: t for o, t in self._repaired.items() if now - t < delay}

    # ----------------------------------------------------------------- joining
    def join(self, seeds: Sequence[str], now: float) -> None:
        self._seeds = [s for s in seeds if s != self.addr]
        if self._seeds:
            self.joined = False
            self._send_join(now)

    def set_seeds(self, seeds: Sequence[str]) -> None:
        """Replace the seed addresses (the I/O layer resolves DNS seeds again before every
        attempt). Seeds that all turn out to be ourselves leave nothing to join."""
        self._seeds = [s for s in seeds if s != self.addr]
        if not self._seeds and seeds and not self.joined:
            self.joined = True
            self.next_join = _NEVER

    @property
    def seeds(self) -> list[str]:
        return list(self._seeds)

    def _send_join(self, now: float) -> None:
        self.next_join = now + self.cfg.join_retry_interval
        rows = self.swim.rows()
        if len(self._join_xids) > 1024:
            self._join_xids.clear()
        for seed in self._seeds:
            sync = self._sync(rows, join=True)
            self._join_xids.add(sync.xid)
            self._send(seed, sync)
        self.metrics.join_attempts += 1

    def _send(self, addr: str, msg: Sync | SyncAck | SyncAck2) -> None:
        """Send a push-pull message; a member table goes with the members' features (a
        message of its own, which a first-release peer drops as an unknown kind), sent first:
        it carries our signed Alive, which a peer needs to take our row when the table went
        in the first-release form (a join's does)."""
        if msg.members is not None:
            self.out.send(addr, self.swim.features_table())
        self.out.send(addr, msg)

    def _sync(self, rows: tuple[MemberRow, ...] | None, join: bool) -> Sync:
        self._xid += 1
        return Sync(self._xid, self.replica.digest(), self.members.digest_hash(), rows, join)

    # ---------------------------------------------------------------- handlers
    def on_sync(self, msg: Sync, src_id: str, src_addr: str, now: float,
                checked: bool = False) -> None:
        if not checked and msg.join and self.guard.hold(msg, src_id, src_addr, now):
            return
        self._heard_from(src_id, now)
        if msg.members is not None:
            self.swim.merge_rows(msg.members, src_id, now, src_addr)
        replica = self.replica
        deltas = self.seal(replica.delta_for(msg.digest, self.cfg.push_pull_budget, self.rng))
        mine = replica.digest()
        # Whether the opener holds something we lack: an owner we do not hold, or a newer
        # (generation, watermark) pair (tuples compare in that order; no pair is below
        # _BEHIND). Equal digests, the usual case, are told apart in one dict comparison.
        held = mine.get
        opener_ahead = msg.digest != mine and any(
            gw > held(o, _BEHIND) for o, gw in msg.digest.items())
        hashes_differ = msg.member_hash != self.members.digest_hash()
        send_rows = msg.members is not None or hashes_differ
        self._send(src_addr, SyncAck(
            msg.xid, tuple(deltas), mine if opener_ahead else None,
            self.swim.rows() if send_rows else None,
            msg.members is None and hashes_differ))

    def ask_state(self, owner: str) -> None:
        """``owner`` restarted while we hold its previous state: a SYNC with our digest now,
        whose answer carries its new generation's state (or an empty delta of it)."""
        m = self.members.get(owner)
        if m is not None and m.addr:
            self.out.send(m.addr, self._sync(None, join=False))

    def unknown_sender(self, src_id: str, src_addr: str, now: float) -> None:
        """A packet came from a node missing from our table or held DEAD: exchange tables."""
        last = self._contacted.get(src_id)
        if last is not None and now - last < self.cfg.reconnect_interval:
            return
        # A global bound too, so that made-up sender ids cannot turn us into a reflector.
        if now < self._next_contact:
            return
        self._next_contact = now + self.cfg.probe_interval / 2
        if len(self._contacted) > 4096:
            self._contacted.clear()
        self._contacted[src_id] = now
        self._send(src_addr, self._sync(self.swim.rows(), join=False))

    def _merge_checked_join(self, msg: Sync, src_id: str, src_addr: str, now: float) -> None:
        """A held join whose name check came back clean (the old process is gone)."""
        self.on_sync(msg, src_id, src_addr, now, checked=True)

    def on_sync_ack(self, msg: SyncAck, src_id: str, src_addr: str, now: float) -> None:
        answers_join = msg.xid in self._join_xids
        if answers_join and self._refusal(msg):
            return
        announce = not self.joined and (answers_join or src_addr in self._seeds)
        if announce:
            self._join_xids.clear()
            self.joined_via = src_id
            self.joined = True
            self.next_join = float("inf")
        self._heard_from(src_id, now)
        if msg.members is not None:
            self.swim.merge_rows(msg.members, src_id, now, src_addr)
        if announce:
            # The seed too when we sign: it refuses the unsigned row our join carried (a join
            # goes in the first-release form until the seed's features are known).
            me = self.swim.alive_self()
            others = [m for m in self.members.live_others
                      if m != src_id or me.proof is not None]
            for member in self.rng.sample(others, min(len(others), ANNOUNCE_MAX)):
                m = self.members.get(member)
                if m is not None:
                    self.out.send(m.addr, me)
        self.apply_delta(msg.deltas, now)
        deltas = (self.seal(self.replica.delta_for(msg.digest, self.cfg.push_pull_budget,
                                                   self.rng)) if msg.digest is not None else [])
        if deltas or msg.want_members:
            self._send(src_addr, SyncAck2(msg.xid, tuple(deltas),
                                         self.swim.rows() if msg.want_members else None))

    def refused_by(self, msg: SyncAck) -> bool:
        """Whether ``msg`` answers our join with a refusal (then we stop joining). For an
        answer that comes in our own name: the seed is the live node that holds it."""
        return msg.xid in self._join_xids and self._refusal(msg)

    def _refusal(self, msg: SyncAck) -> bool:
        """A join answer listing our name at another live address: a seed refused us as a
        duplicate. Stop joining and say why (the rows are not merged)."""
        for r in msg.members or ():
            if (r.node == self.id and r.addr != self.addr and r.generation != self.generation
                    and r.state in (MemberState.ALIVE, MemberState.SUSPECT)):
                self.refused = (f"node name {self.id!r} is already used by a live node at "
                                f"{r.addr}")
                self.next_join = _NEVER
                self._join_xids.clear()
                return True
        return False

    def on_sync_ack2(self, msg: SyncAck2, src_id: str, now: float) -> None:
        if msg.members is not None:
            src = self.members.get(src_id)
            self.swim.merge_rows(msg.members, src_id, now,
                                 src.addr if src is not None else None)
        self.apply_delta(msg.deltas, now)
