"""SWIM failure detection with Lifeguard, as one sans-I/O state machine.

Rules (why each holds: docs/design/membership.md):
- Every ``probe_interval`` (stretched by local health) ping the next member of a shuffled round
  robin. No ack within ``probe_timeout`` -> ping it again and ask ``indirect_checks`` peers to
  ping it (ping-req); they answer with the ack, or a nack. No ack by the end of the interval ->
  SUSPECT, announced with ourselves as the source.
- A suspicion becomes DEAD when its Lifeguard timer fires; each independent confirmation
  shrinks the timer toward the minimum. Hearing a new suspicion we probe the suspect at once.
- Whoever holds a suspicion tells the suspect directly, at once and every third of the minimum
  timeout; the suspect answers each with its Alive straight to the sender.
- A frame the transport could not deliver is a hint, not a verdict: the member is probed at
  once, out of turn, and suspected only if that probe fails.
- Local health: a failed probe, a missed nack or a refutation of ourselves raises the score, a
  successful probe lowers it; timers are stretched by ``score + 1``.
- Ping-req relays are drawn first from members that acked one of our probes within the last
  ``GOOD_FOR`` probe intervals, then from the other live members.
- SUSPECT or DEAD about ourselves at our incarnation or above is refuted with a higher
  incarnation. Membership news (and feature bits) is re-gossiped with a retransmit limit.

It sends through :class:`SwimOut`, reports member changes through ``on_change``, and never
touches the directory.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import awareness_scale, suspicion_timeout_bounds
from gossipreg.core.membership.features import FeatureGossip, GossipOut
from gossipreg.core.membership.probes import GOOD_FOR, Probe, Relay, Rotation, choose_relays
from gossipreg.core.membership.suspicion import Suspicion
from gossipreg.core.membership.table import MemberChange, MemberTable
from gossipreg.core.trust.judge import Trust
from gossipreg.core.types import MemberState
from gossipreg.core.wire.messages import (
    Ack,
    Alive,
    Dead,
    Features,
    Left,
    MemberRow,
    Message,
    Nack,
    Ping,
    PingReq,
    Suspect,
)

__all__ = ["OnChange", "Swim", "SwimOut"]


class SwimOut(GossipOut, Protocol):
    """Where the failure detector's messages go (the node's dissemination)."""


# A member's state changed: (change, the member whose verdict it was or None, now).
OnChange = Callable[[MemberChange, str | None, float], None]


class Swim(FeatureGossip):
    """Membership protocol of one node over a :class:`MemberTable`."""

    def __init__(self, cfg: NodeConfig, members: MemberTable, out: SwimOut,
                 on_change: OnChange, rng: random.Random, now: float,
                 trust: Trust | None = None) -> None:
        self.cfg = cfg
        self.trust = trust  # signs our Alive, Left and row (None: they travel unsigned)
        self.members = members
        self.out = out
        self.on_change = on_change
        self.rng = rng
        self.health = 0
        # Moving share of round-robin probes answered directly in time: how lossy the paths
        # from here look (a probe needs two packets to arrive, the ping and the ack).
        self.direct_ok = 1.0
        self.leaving = False
        self._seq = 0
        self._rotation = Rotation(members, rng)
        # Probes in flight by sequence number: the round-robin one, plus confirmation probes of
        # suspects we heard about (full probes, ping-req included, so loss alone does not
        # confirm a suspicion).
        self._probes: dict[int, Probe] = {}
        self._relays: dict[int, Relay] = {}
        self.suspicions: dict[str, Suspicion] = {}
        self._acked: dict[str, float] = {}  # member -> when it last acked a probe of ours
        self.next_probe = now + rng.random() * cfg.probe_interval

    # ----------------------------------------------------------------- timers
    def _scaled(self, value: float) -> float:
        return awareness_scale(value, self.health)

    def _adjust_health(self, delta: int) -> None:
        self.health = max(0, min(self.cfg.awareness_max_multiplier - 1, self.health + delta))

    def next_deadline(self) -> float:
        t = self.next_probe  # (asked after every input: comparisons, not min() calls)
        for p in self._probes.values():
            d = p.end_at if p.indirect_sent or p.acked else p.indirect_at
            if d < t:
                t = d
        for r in self._relays.values():
            d = r.nack_at if r.nack_at > 0 else r.expire_at
            if d < t:
                t = d
        for s in self.suspicions.values():
            t = min(t, s.deadline, s.remind_at)
        return t

    def tick(self, now: float) -> None:
        for p in list(self._probes.values()):
            if not p.acked and not p.indirect_sent and now >= p.indirect_at:
                self._send_indirect(p, now)
            if now >= p.end_at:
                self._finish_probe(p, now)
        if now >= self.next_probe and not self.leaving:
            self._start_probe(now)
        for seq, r in list(self._relays.items()):
            if r.nack_at > 0 and now >= r.nack_at:
                self.out.send(r.origin_addr, Nack(r.origin_seq))
                r.nack_at = 0
            if now >= r.expire_at:
                del self._relays[seq]
        for node_id, s in list(self.suspicions.items()):
            if now >= s.deadline:
                del self.suspicions[node_id]
                m = self.members.get(node_id)
                if m is not None and m.state is MemberState.SUSPECT:
                    self.on_dead(Dead(node_id, m.generation, m.incarnation,
                                      self.members.self_id), now)
            elif now >= s.remind_at:
                s.remind_at = now + s.remind_every
                self._remind(node_id)

    # ---------------------------------------------------------------- probing
    def add_to_rotation(self, node_id: str) -> None:
        """Probe ``node_id`` in the current round-robin pass (a member joined)."""
        self._rotation.add(node_id)

    def new_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _start_probe(self, now: float) -> None:
        self.next_probe = now + self._scaled(self.cfg.probe_interval)
        target = self._rotation.next()
        if target is not None:
            self._probe_member(target, now, primary=True)

    def _probe_member(self, target: str, now: float, primary: bool) -> None:
        m = self.members.get(target)
        if m is None:
            return
        seq = self.new_seq()
        self._probes[seq] = Probe(target, seq, now + self._scaled(self.cfg.probe_timeout),
                                   now + self._scaled(self.cfg.probe_interval), primary)
        self.out.send(m.addr, Ping(seq, target))
        if not m.features_known:  # until it answers with its own row (see on_features)
            self.out.send(m.addr, Features(self._own_features().rows, True,
                                           self._signed_alive()))

    def _send_indirect(self, p: Probe, now: float) -> None:
        p.indirect_sent = True
        m = self.members.get(p.target)
        if m is None:
            return
        chosen = choose_relays(self.members, p.target, self._acked,
                               now - GOOD_FOR * self.cfg.probe_interval, self.cfg.indirect_checks,
                               self.rng)
        for peer in chosen:
            self.out.send(peer.addr, PingReq(p.seq, p.target, m.addr))
        p.expected_nacks = len(chosen)
        # And a second direct ping (memberlist's TCP fallback ping), over a stream: it beats
        # the indirect path's four packets when our first ping or its ack was lost.
        self.out.send(m.addr, Ping(p.seq, p.target), stream=True)

    def delivery(self) -> float:
        """Estimated chance that one packet from here arrives."""
        return math.sqrt(self.direct_ok)

    def _finish_probe(self, p: Probe, now: float) -> None:
        del self._probes[p.seq]
        if p.primary:
            ok = 1.0 if p.acked and not p.indirect_sent else 0.0
            self.direct_ok += (ok - self.direct_ok) / 20  # about the last 20 probes
        if p.acked:
            return
        if p.primary:
            # Lifeguard: missing nacks mean that we, not the target, may be the slow one.
            self._adjust_health(1 if p.nacks < p.expected_nacks or not p.expected_nacks else 0)
        self._suspect_ours(p.target, now)

    def _suspect_ours(self, target: str, now: float) -> None:
        m = self.members.get(target)
        if m is None or m.state not in (MemberState.ALIVE, MemberState.SUSPECT):
            return
        self.on_suspect(Suspect(target, m.generation, m.incarnation, self.members.self_id), now)

    def _remind(self, node_id: str) -> None:
        m = self.members.get(node_id)
        if m is not None and m.state is MemberState.SUSPECT and not self.leaving:
            self.out.send(m.addr, Suspect(node_id, m.generation, m.incarnation,
                                           self.members.self_id))

    def on_unreachable(self, addr: str, now: float) -> None:
        """The transport gave up on a frame to ``addr``: probe that member now, unless it is
        being probed already or is no longer believed ALIVE."""
        m = self.members.by_addr(addr)
        if m is None or m.state is not MemberState.ALIVE or self.leaving:
            return
        if any(p.target == m.node_id for p in self._probes.values()):
            return
        self._probe_member(m.node_id, now, primary=False)

    def on_ping(self, msg: Ping, src_addr: str) -> bool:
        if msg.target != self.members.self_id:
            return False
        self.out.send(src_addr, Ack(msg.seq))
        return True

    def on_ack(self, msg: Ack, now: float) -> None:
        p = self._probes.get(msg.seq)
        if p is not None:
            if len(self._acked) > 2 * len(self.members) + 16:  # members come and go
                self._acked = {k: v for k, v in self._acked.items()
                               if self.members.get(k) is not None}
            self._acked[p.target] = now
            if not p.acked:
                p.acked = True
                if p.primary:
                    self._adjust_health(-1)
            return
        r = self._relays.pop(msg.seq, None)
        if r is not None:
            self.out.send(r.origin_addr, Ack(r.origin_seq))

    def on_nack(self, msg: Nack) -> None:
        p = self._probes.get(msg.seq)
        if p is not None:
            p.nacks += 1

    def on_ping_req(self, msg: PingReq, src_addr: str, now: float) -> None:
        seq = self.new_seq()
        # The nack is due within the prober's window, whatever our own health (a late one
        # counts against the prober's health); a late ack is relayed until the entry expires.
        self._relays[seq] = Relay(src_addr, msg.seq, now + 0.8 * self.cfg.probe_timeout,
                                   now + self._scaled(self.cfg.probe_interval))
        self.out.send(msg.target_addr, Ping(seq, msg.target))

    # ------------------------------------------------------------- membership
    def _gossip(self, node_id: str, msg: Message, now: float) -> None:
        self.out.gossip_member(node_id, msg, now)
        if node_id == self.members.self_id:  # our Alive travels with our features
            self._gossip_features(*self._own_features().rows[0], now)

    def alive_self(self) -> Alive:
        me = self.members.me
        t = self.trust
        return Alive(me.node_id, me.addr, me.generation, me.incarnation,
                     None if t is None else t.own_proof(me.addr, me.generation, me.incarnation))

    def refute_now(self, now: float) -> None:
        """Announce ourselves at a new incarnation (our key changed)."""
        self._refute(self.members.me.incarnation, now)

    def _refute(self, incarnation: int, now: float) -> None:
        if self.leaving:
            return
        self.members.refute(incarnation)
        self._adjust_health(1)
        self._gossip(self.members.self_id, self.alive_self(), now)

    def on_alive(self, msg: Alive, now: float) -> None:
        if msg.node == self.members.self_id:
            return
        change = self.members.alive(msg.node, msg.addr, msg.generation, msg.incarnation, now)
        if change is None:
            return
        self.suspicions.pop(msg.node, None)
        if change.old is None:
            self._rotation.add(msg.node)
        self._gossip(msg.node, msg, now)
        self.on_change(change, None, now)

    def _about_me(self, generation: int, incarnation: int, sender: str | None,
                  now: float) -> None:
        """A suspicion or verdict about us: refute it if it is current. Either way, whoever
        sent it still doubts us, so it also gets our Alive straight back (a refutation's
        broadcast misses a member now and then)."""
        me = self.members.me
        if generation != me.generation or self.leaving:
            return
        if incarnation >= me.incarnation:
            self._refute(incarnation, now)
        if sender is not None:
            self.out.send(sender, self.alive_self())

    def on_suspect(self, msg: Suspect, now: float, sender: str | None = None) -> None:
        """``sender``: the address the message came from (None when it is our own verdict or
        came from a table merge)."""
        if msg.node == self.members.self_id:
            self._about_me(msg.generation, msg.incarnation, sender, now)
            return
        m = self.members.get(msg.node)
        if m is None:
            return
        if m.state is MemberState.SUSPECT and (msg.generation, msg.incarnation) == m.version:
            s = self.suspicions.get(msg.node)
            if s is not None and s.confirm(msg.source):
                self._gossip(msg.node, msg, now)
            return
        change = self.members.suspect(msg.node, msg.generation, msg.incarnation, now)
        if change is None:
            return
        n = self.members.live_count()
        lo, hi = suspicion_timeout_bounds(self.cfg.suspicion_mult,
                                          self.cfg.suspicion_max_timeout_mult, n,
                                          self.cfg.probe_interval)
        expected = int(self.cfg.suspicion_mult) - 2
        if n - 2 < expected:
            expected = 0
        self.suspicions[msg.node] = Suspicion(now, lo, hi, max(expected, 0), msg.source)
        self._gossip(msg.node, msg, now)
        self.on_change(change, msg.source, now)
        if msg.source == self.members.self_id:
            # Our own verdict: tell the suspect at once, so that its refutation starts
            # spreading about as early as the suspicion does.
            self._remind(msg.node)
        elif not self.leaving:
            # Probe the suspect ourselves: our verdict confirms the suspicion; if it is alive,
            # its ack brings back its refutation (docs/design/membership.md: why every holder).
            self._probe_member(msg.node, now, primary=False)

    def on_dead(self, msg: Dead, now: float, sender: str | None = None) -> None:
        if msg.node == self.members.self_id:
            self._about_me(msg.generation, msg.incarnation, sender, now)
            return
        change = self.members.dead(msg.node, msg.generation, msg.incarnation, now)
        if change is None:
            return
        self.suspicions.pop(msg.node, None)
        self._gossip(msg.node, msg, now)
        self.on_change(change, msg.source, now)

    def on_left(self, msg: Left, now: float, sender: str | None = None) -> None:
        if msg.node == self.members.self_id:
            self._about_me(msg.generation, msg.incarnation, sender, now)
            return
        change = self.members.dead(msg.node, msg.generation, msg.incarnation, now, left=True)
        if change is None:
            return
        self.suspicions.pop(msg.node, None)
        self._gossip(msg.node, msg, now)
        self.on_change(change, msg.node, now)

    def merge_rows(self, rows: tuple[MemberRow, ...], source: str, now: float,
                   src_addr: str | None = None) -> None:
        """Merge a peer's member table. A remote DEAD is only a SUSPECT here (no second-hand
        verdict without our own timer). A table (from ``src_addr``) that holds us SUSPECT or
        DEAD gets our Alive straight back (after a partition our broadcast may not reach it)."""
        for r in rows:
            if r.state is MemberState.ALIVE:
                self.on_alive(Alive(r.node, r.addr, r.generation, r.incarnation, r.proof), now)
            elif r.state is MemberState.LEFT:
                self.on_left(Left(r.node, r.generation, r.incarnation,
                                  r.proof.sig if r.proof is not None else None), now)
            else:
                if self.members.get(r.node) is None and r.node != self.members.self_id:
                    continue
                sender = src_addr if r.node == self.members.self_id else None
                self.on_suspect(Suspect(r.node, r.generation, r.incarnation, source), now,
                                sender)

    def rows(self) -> tuple[MemberRow, ...]:
        """The member table as it travels, each row with its member's own proof if signed."""
        return self.members.rows(self.trust)

    def start_leave(self) -> Left:
        self.leaving = True
        self._probes.clear()
        me = self.members.me
        t = self.trust
        return Left(me.node_id, me.generation, me.incarnation,
                    None if t is None else t.sign_left(me.generation, me.incarnation))
