"""Dissemination: the broadcast queues, gossip ticks, beacons and packet assembly of one node.

Rules (the measurements behind them: docs/design/gossip.md):
- Messages for a peer are collected during one input and become one packet at its end
  (``flush``); a packet with room left piggybacks queued broadcasts, membership news first.
- Every broadcast is sent at most ``retransmit_limit(retransmit_mult, live members)`` times; a
  newer write of the same key replaces the queued one and inherits the versions it superseded.
- A gossip tick, every ``gossip_interval`` while something is queued, sends broadcasts to
  ``gossip_fanout`` random ALIVE members, at most one of them replaced by a recently DEAD
  member. An idle node has no tick; news arriving at an idle node goes out at once (ticks stay
  at least half an interval apart).
- After an owner writes, it gossips a beacon (its latest version) once it has been quiet for
  ``beacon_delay``, when the cluster's size and the loss its probes see make a missed
  broadcast plausible. Each owner's beacon is forwarded once; one that shows a write we lack
  opens a repair at once.
- Bytes are counted per message tag as packets are built.
- Byte budgets follow the path a packet takes. To a peer that takes datagrams (both of us
  announced ``Feature.DATAGRAM``) a probe or reply piggybacks only what keeps its frame within
  ``max_datagram_size``, and a gossip tick packs a datagram too unless a broadcast too large
  for one is queued: then it packs ``gossip_budget``, and the transport sends the frame over a
  stream. Other peers (streams, HTTP) get ``gossip_budget`` throughout.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.formulas import miss_probability, retransmit_limit
from gossipreg.core.gossip.broadcast import BroadcastQueue
from gossipreg.core.gossip.broadcast import Message as Packed
from gossipreg.core.membership.table import Member, MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.replica.store import Replica, Write
from gossipreg.core.types import MemberState
from gossipreg.core.wire.codec import FRAME_OVERHEAD, Codec, pack_message
from gossipreg.core.wire.messages import (
    Beacon,
    Message,
    Tag,
    ValueCodec,
    encode,
    encode_first_release,
    write_first_release,
    write_wire,
)
from gossipreg.core.wire.tags import Feature

__all__ = ["Dissemination", "Transmit"]

_DATAGRAM = int(Feature.DATAGRAM)  # a plain int: tested per packet
_NEVER = float("inf")
_new = tuple.__new__
_SYNC_TAGS = frozenset({Tag.SYNC, Tag.SYNC_ACK, Tag.SYNC_ACK2})


def _distinct_indices(rng: random.Random, n: int, k: int) -> list[int]:
    """``min(k, n)`` distinct random indices below ``n``: ``rng.sample(range(n), k)`` without
    its generality (it runs on every gossip tick, with k small and n usually large)."""
    if k >= n:
        out = list(range(n))
        rng.shuffle(out)
        return out
    out = []
    while len(out) < k:
        i = int(rng.random() * n)
        if i not in out:
            out.append(i)
    return out


class Transmit(NamedTuple):
    """A packet to send: ``payload`` bytes to the node listening at ``dest``; ``stream``: not
    as a datagram, however small (memberlist's TCP fallback ping). (A named tuple: one is
    built per packet, three times faster than a frozen dataclass.)"""

    dest: str
    payload: bytes
    stream: bool = False


class Dissemination:
    """Outgoing traffic of one node (see the module docstring)."""

    def __init__(self, node_id: str, addr: str, generation: int, cfg: NodeConfig,
                 rng: random.Random, codec: Codec, metrics: Metrics, members: MemberTable,
                 replica: Replica, delivery: Callable[[], float], now: float,
                 values: ValueCodec) -> None:
        self.id = node_id
        self.addr = addr
        self.generation = generation
        self.cfg = cfg
        self.rng = rng
        self.codec = codec
        self.metrics = metrics
        self.members = members
        self.replica = replica
        self.values = values  # how write values travel (the directory's codec)
        self.delivery = delivery  # share of packets that arrive, as our probes see it
        # What a datagram leaves for messages once framed (header, MAC, envelope strings).
        self.datagram_room = cfg.max_datagram_size - FRAME_OVERHEAD - sum(
            len(s.encode()) for s in (cfg.cluster, node_id, addr))
        self._datagrams = bool(members.me.features & _DATAGRAM)  # our transport's
        self._member_q = BroadcastQueue(self.datagram_room)
        self._write_q = BroadcastQueue(self.datagram_room, cfg.max_queued_writes)
        # Per destination, the (tag, packed message) pairs of the packet being built.
        self._out: dict[str, list[Packed]] = {}
        self._gossiped: set[str] = set()  # packets that already carry broadcasts
        self._streamed: set[str] = set()  # packets that must not travel as datagrams
        self._transmits: deque[Transmit] = deque()
        self._dead_recent: list[str] = []
        self._beacon_at = _NEVER
        self._beacons: dict[str, tuple[int, int]] = {}  # the newest beacon seen per owner
        self._limit_for = (-1, 0)  # (live members, retransmit limit): asked on every packet
        self.next_gossip = now + cfg.gossip_interval
        self._last_gossip = now - cfg.gossip_interval

    # ---------------------------------------------------------------- queuing
    def send(self, addr: str, msg: Message, stream: bool = False) -> None:
        """Queue a message for ``addr``; packets are built when the current input ends. A peer
        whose running generation announced no features gets the first-release form: while its
        features are unknown both forms are kept, and the packet takes the one that holds when
        it is built (the features may arrive later in the same input, as a join's answer's
        do). With ``stream`` the packet it goes in is sent over a stream (:class:`Transmit`)."""
        if stream:
            self._streamed.add(addr)
        known = msg.TAG == Tag.FEATURES or (  # (features_known, inline: per message sent)
            (m := self.members.by_addr(addr)) is not None
            and m.features_generation == m.generation)
        try:
            wire = encode(msg, self.values)
            packed = pack_message(wire)
            first: bytes | None = packed
            if not known:
                old = encode_first_release(msg, self.values)
                first = None if old is None else packed if old == wire else pack_message(old)
        except InvalidArgumentError:
            self.metrics.drop("unencodable_out")
            return
        self._out.setdefault(addr, []).append((wire[0], packed, first))

    def _by_datagram(self, m: Member | None) -> bool:
        """Whether packets to ``m`` travel as datagrams when small enough (see the rules)."""
        return self._datagrams and m is not None and m.understands(_DATAGRAM)

    def _wake(self, now: float) -> None:
        if not self._member_q.queued and not self._write_q.queued:
            early = self._last_gossip + self.cfg.gossip_interval / 2
            self.next_gossip = min(self.next_gossip, max(now, early))

    def gossip_member(self, node_id: str, msg: Message, now: float) -> None:
        """Broadcast membership news about ``node_id`` (replacing older news about it)."""
        self._wake(now)
        wire = encode(msg, self.values)
        packed = pack_message(wire)
        old = encode_first_release(msg, self.values)
        first = packed if old is None or len(old) == len(wire) else pack_message(old)
        self._member_q.put(node_id, wire[0], packed, None, True if first is packed else first)

    def gossip_write(self, w: Write, now: float, packed: bytes | None = None) -> None:
        """Broadcast a directory write (see the module rules on replacement). ``packed``: the
        write's message as received, relayed as it is unless the queue changes the write."""
        self._wake(now)
        key = (w.owner, w.key)
        old: Write | None = self._write_q.peek(key)
        if (old is not None and old.generation == w.generation and old.version < w.version
                and w.sig is None):  # a signed write travels as its owner signed it
            w = Write(w.owner, w.generation, w.key, w.version, w.deleted, w.value,
                      tuple(sorted({*old.supersedes, old.version, *w.supersedes})[-64:]))
            packed = None  # the write changed: encoded again below
        if packed is None:
            packed = pack_message(write_wire(w, self.values))
        # A first-release node gets the same bytes when they are its form: never a signed
        # write's (that node reads no signature), nor a value it reads otherwise.
        first: bytes | bool | None = True
        if w.sig is not None or not self.values.first_release_unchanged(w.key):
            old_form = write_first_release(w, self.values)
            first = pack_message(old_form) if old_form is not None else None
        evicted = self._write_q.evicted
        self._write_q.put(key, Tag.WRITE, packed, w, first)
        if self._write_q.evicted != evicted:  # the queue is full: anti-entropy carries it
            self.metrics.drop("broadcast_overflow")  # counted, not logged: no sender

    def queued_write(self, owner: str, key: str) -> Write | None:
        """The write of ``key`` by ``owner`` waiting to be gossiped, if any."""
        w: Write | None = self._write_q.peek((owner, key))
        return w

    def drop_pending(self) -> None:
        """Forget queued directory writes and a pending beacon (for a caller that handed this
        node's state to every peer by other means)."""
        self._write_q.clear()
        self._beacon_at = _NEVER

    def member_dead(self, node_id: str) -> None:
        """``node_id`` was just declared DEAD: gossip reaches it for a while yet."""
        self._dead_recent.append(node_id)

    def forget_owner(self, node_id: str) -> None:
        self._beacons.pop(node_id, None)

    def queue_depth(self) -> int:
        return len(self._member_q) + len(self._write_q)

    def next_deadline(self) -> float:
        return min(self.next_gossip, self._beacon_at)

    # ---------------------------------------------------------------- beacons
    def beacon_after(self, now: float) -> None:
        """We just wrote: arm the beacon when a broadcast may plausibly miss a member."""
        n = self.members.live_count()
        sends = retransmit_limit(self.cfg.retransmit_mult, n) * self.delivery()
        if miss_probability(sends, n) >= self.cfg.beacon_min_miss:
            self._beacon_at = now + self.cfg.beacon_delay

    def _send_beacon(self, now: float) -> None:
        self._beacon_at = _NEVER
        b = Beacon(self.id, self.generation, self.replica.max_version(self.id))
        self._wake(now)
        self._write_q.put(("", "beacon", self.id), Tag.BEACON, pack_message(encode(b)))

    def beacon_seen(self, owner: object, generation: object, version: object) -> bool:
        """Whether this beacon (or a newer one of its owner) was already handled; False when
        unsure (full validation follows)."""
        if type(owner) is not str or type(generation) is not int or type(version) is not int:
            return False
        seen = self._beacons.get(owner)
        return seen is not None and seen >= (generation, version)

    def on_beacon(self, b: Beacon, now: float) -> None:
        """Forward each owner's beacon once; one that shows a write we lack starts a repair."""
        m = self.members.get(b.owner)
        if b.owner == self.id or m is None or m.generation != b.generation:
            return
        seen = self._beacons.get(b.owner)
        if seen is not None and seen >= (b.generation, b.version):
            return
        self._beacons[b.owner] = (b.generation, b.version)
        # A hole this reveals is due for repair at once (the anti-entropy timer follows the
        # replica's holes).
        self.replica.announce(b.owner, b.generation, b.version)
        self._wake(now)
        self._write_q.put(("", "beacon", b.owner), Tag.BEACON, pack_message(encode(b)))

    # ------------------------------------------------------------------ ticks
    def tick(self, now: float) -> None:
        if now >= self.next_gossip:
            if self._member_q.queued or self._write_q.queued:
                self.next_gossip = now + self.cfg.gossip_interval
                self._last_gossip = now
                self._gossip_tick(now)
            else:
                # Nothing to say: no more ticks until news is queued (``_wake``).
                self.next_gossip = _NEVER

    def tick_beacon(self, now: float) -> None:
        if now >= self._beacon_at:
            self._send_beacon(now)

    def _limit(self) -> int:
        n = self.members.live_count()
        if n != self._limit_for[0]:
            self._limit_for = (n, retransmit_limit(self.cfg.retransmit_mult, n))
        return self._limit_for[1]

    def _take_broadcasts(self, budget: int) -> list[Packed]:
        """Membership news first, then directory writes, within ``budget`` bytes."""
        limit = self._limit()
        member_q, write_q = self._member_q, self._write_q
        if not member_q.queued:  # the usual case: writes only
            return write_q.take(budget, limit)
        out = member_q.take(budget, limit)
        if write_q.queued:
            left = budget - sum([len(m[1]) for m in out])  # (a list: no generator)
            if left > 0:
                out.extend(write_q.take(left, limit))
        return out

    def _gossip_tick(self, now: float) -> None:
        # Sampled by index: O(fanout), not O(members). See the rules for who is a target.
        live = self.members.alive_others
        k = self.cfg.gossip_fanout
        targets = [self.members.get(live[i]) for i in _distinct_indices(self.rng, len(live), k)]
        dead = self.recent_dead(now) if self._dead_recent else []
        if dead and self.rng.random() < k * len(dead) / (len(live) + len(dead)):
            targets[min(len(targets), k - 1):] = [self.rng.choice(dead)]
        large = self._member_q.large or self._write_q.large
        for m in targets:
            assert m is not None
            taken = self._take_broadcasts(self.datagram_room if not large and
                                          self._by_datagram(m) else self.cfg.gossip_budget)
            if not taken:
                break
            self._out.setdefault(m.addr, []).extend(taken)
            self._gossiped.add(m.addr)

    def has_recent_dead(self) -> bool:
        """Whether some member was declared DEAD lately (it may still be within
        ``gossip_to_dead_time``; :meth:`recent_dead` prunes)."""
        return bool(self._dead_recent)

    def recent_dead(self, now: float) -> list[Member]:
        """DEAD members that might still be within ``gossip_to_dead_time`` (pruned lazily)."""
        horizon = now - self.cfg.gossip_to_dead_time
        keep = []
        for node_id in self._dead_recent:
            m = self.members.get(node_id)
            if m is not None and m.state is MemberState.DEAD and m.since >= horizon:
                keep.append(m)
        self._dead_recent = [m.node_id for m in keep]
        return keep

    # ---------------------------------------------------------------- packets
    def flush(self) -> None:
        """The end of an input: queued messages become packets, small ones piggybacking
        broadcasts."""
        if not self._out:
            return
        out, self._out = self._out, {}
        gossiped, streamed = self._gossiped, self._streamed
        if gossiped:
            self._gossiped = set()
        if streamed:
            self._streamed = set()
        metrics = self.metrics
        by_tag = metrics.bytes_out_by_tag
        budget = self.cfg.gossip_budget
        encode_packed, me, my_addr = self.codec.encode_packed, self.id, self.addr
        by_addr, datagrams = self.members.by_addr, self._datagrams
        for addr, msgs in out.items():
            peer = by_addr(addr)
            # Cheapest tests first: most packets here are gossip, which carries broadcasts.
            # (A member table goes after its Features: the exchange is the second message.)
            if (addr not in gossiped and msgs[0][0] not in _SYNC_TAGS
                    and (len(msgs) < 2 or msgs[1][0] not in _SYNC_TAGS)
                    and (self._member_q.queued or self._write_q.queued)):
                room = (self.datagram_room if datagrams and self._by_datagram(peer)
                        else budget) - (len(msgs[0][1]) if len(msgs) == 1  # (a probe's)
                                        else sum([len(m[1]) for m in msgs]))
                if room > 64:
                    msgs.extend(self._take_broadcasts(room))
            # A peer that announced no features gets each message's first-release form.
            current = peer is not None and peer.features_generation == peer.generation
            packets = []
            for tag, packed, first_release in msgs:
                sent = packed if current else first_release
                if sent is not None:
                    by_tag[tag] += len(sent)
                    packets.append(sent)
            if not packets:
                continue
            try:
                payload = encode_packed(me, my_addr, packets)
            except InvalidArgumentError:
                metrics.drop("oversized_out")
                continue
            metrics.packets_out += 1
            metrics.bytes_out += len(payload)
            self._transmits.append(_new(Transmit, (addr, payload,  # (no Python-level __new__)
                                                   bool(streamed) and addr in streamed)))

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None
