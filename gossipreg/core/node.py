"""One gossipreg node, sans-I/O: membership (SWIM), the directory replica, and the view.

Inputs are method calls carrying ``now`` (monotonic seconds chosen by the caller); outputs are
drained with ``poll_transmit`` / ``poll_event`` / ``poll_result`` / ``poll_timeout``. The node never
reads a clock, opens a socket or starts a task: the asyncio runner and the simulator run the
same loop around it. Wall time is ``now + wall_offset`` (the caller keeps the offset current).

Dissemination: every owner write is applied locally, queued as a transmit-limited broadcast
(piggybacked on probe traffic and sent on gossip ticks to ``gossip_fanout`` random peers), and
repaired by a periodic three-way push-pull (digest -> deltas + digest -> deltas). Writes received
by broadcast are re-queued here too (infection-style), so a write reaches everyone in O(log n)
gossip rounds.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from gossipreg.core.antientropy import AntiEntropy
from gossipreg.core.broadcast import BroadcastQueue
from gossipreg.core.codec import Codec, pack_message
from gossipreg.core.config import NodeConfig
from gossipreg.core.directory import Directory, Pending, Result
from gossipreg.core.errors import CodecError, InvalidArgumentError, NodeStateError
from gossipreg.core.events import EventQueue
from gossipreg.core.formulas import miss_probability, retransmit_limit
from gossipreg.core.keyring import Keyring
from gossipreg.core.membership import Member, MemberChange, MemberTable
from gossipreg.core.messages import (
    Ack,
    Alive,
    Beacon,
    Dead,
    Left,
    Message,
    Nack,
    Ping,
    PingReq,
    Request,
    Response,
    Suspect,
    Sync,
    SyncAck,
    SyncAck2,
    Tag,
    WriteMsg,
    encode,
    parse,
    write_wire,
)
from gossipreg.core.metrics import Metrics
from gossipreg.core.records import check_id
from gossipreg.core.replica import Write
from gossipreg.core.swim import Swim
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberInfo,
    MemberState,
    RegistryEvent,
)

__all__ = ["Node", "Pending", "Result", "Transmit"]

_NEVER = float("inf")
_SYNC_TAGS = frozenset({Tag.SYNC, Tag.SYNC_ACK, Tag.SYNC_ACK2})
_WRITE, _BEACON = Tag.WRITE, Tag.BEACON


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
    """A packet to send: ``payload`` bytes to the node listening at ``dest``. (A named tuple:
    one is built per packet, three times faster than a frozen dataclass.)"""

    dest: str
    payload: bytes


class Node:
    """A gossip node. See the module docstring for the contract."""

    def __init__(
        self,
        node_id: str,
        addr: str,
        config: NodeConfig | None = None,
        *,
        rng: random.Random,
        now: float,
        generation: int = 1,
        wall_offset: float = 0.0,
        keyring: Keyring | None = None,
        stream_id: str | None = None,
    ) -> None:
        self.id = check_id(node_id, "node_id")
        self.addr = addr
        self.cfg = config if config is not None else NodeConfig()
        self.rng = rng
        self.wall_offset = wall_offset
        self.generation = generation
        self.codec = Codec(self.cfg.cluster, keyring, max_packet_size=self.cfg.max_packet_size)
        self.metrics = Metrics()
        # The one event queue: numbered events, for poll_event.
        self.events = EventQueue(stream_id if stream_id is not None else f"{generation:x}")
        self.members = MemberTable(self.id, addr, generation, now)
        self.swim = Swim(self.cfg, self.members, self, rng, now)
        self.dir = Directory(self, now)
        self._member_q = BroadcastQueue()
        self._write_q = BroadcastQueue()
        # Per destination, the (tag, packed message) pairs of the packet being built.
        self._out: dict[str, list[tuple[int, bytes]]] = {}
        self._gossiped: set[str] = set()  # packets that already carry broadcasts
        self._transmits: deque[Transmit] = deque()
        self._dead_recent: list[str] = []
        self._beacon_at = _NEVER
        self._beacons: dict[str, tuple[int, int]] = {}  # the newest beacon seen per owner
        self._limit_for = (-1, 0)  # (live members, retransmit limit): asked on every packet
        self.left = False
        # poll_timeout's answer, recomputed after any input that may have moved a timer.
        self._deadline = _NEVER
        self._deadline_stale = True
        # Address of the sender of the last valid packet (a transport may answer it inline).
        self.last_src: str | None = None
        cfg = self.cfg
        self._next_gossip = now + cfg.gossip_interval
        self._last_gossip = now - cfg.gossip_interval
        self._next_reap = now + min(60.0, cfg.tombstone_ttl / 4)
        self._now = now
        self.ae = AntiEntropy(self, now)

    @property
    def joined(self) -> bool:
        """Whether a seed has answered our join (True when there was nothing to join)."""
        return self.ae.joined

    # ------------------------------------------------------------------ clock
    def wall(self, now: float) -> float:
        return now + self.wall_offset

    # ---------------------------------------------------------- host services
    def send(self, addr: str, msg: Message) -> None:
        """Queue a message for ``addr``; packets are built when the current input ends."""
        wire = encode(msg)
        try:
            packed = pack_message(wire)
        except InvalidArgumentError:
            self.metrics.drop("unencodable_out")
            return
        self._out.setdefault(addr, []).append((wire[0], packed))

    def _wake_gossip(self) -> None:
        """News arriving at an idle node goes out at once rather than at the next tick: each
        hop of the first wave then costs a network latency, not half a gossip interval. Ticks
        stay at least half an interval apart. An idle node has no gossip timer at all (it
        stops at the first tick that finds nothing to send), so it does not wake to say
        nothing."""
        if not self._member_q and not self._write_q:
            early = self._last_gossip + self.cfg.gossip_interval / 2
            self._next_gossip = min(self._next_gossip, max(self._now, early))

    def gossip_member(self, node_id: str, msg: Message) -> None:
        self._wake_gossip()
        wire = encode(msg)
        self._member_q.put(node_id, wire[0], pack_message(wire))

    def gossip_write(self, w: Write) -> None:
        """Queue a write; one replacing a queued older write of the same key inherits the
        versions that one superseded (receivers settle them without ever seeing them)."""
        self._wake_gossip()
        key = (w.owner, w.key)
        old: Write | None = self._write_q.peek(key)
        if old is not None and old.generation == w.generation and old.version < w.version:
            w = Write(w.owner, w.generation, w.key, w.version, w.deleted, w.value,
                      tuple(sorted({*old.supersedes, old.version, *w.supersedes})[-64:]))
        self._write_q.put(key, Tag.WRITE, pack_message(write_wire(w)), w)

    def drop_pending_gossip(self) -> None:
        """Forget queued directory writes and a pending beacon: for a caller that has handed
        this node's state to every peer by other means (the simulator's warm start, a
        benchmark with no peers)."""
        self._write_q.clear()
        self._beacon_at = _NEVER
        self._deadline_stale = True

    def beacon_after(self, now: float) -> None:
        """We just wrote: gossip our latest version once we have been quiet for a while, if
        the cluster's size and the loss our probes see make it plausible that a broadcast
        misses a member (under loss each member hears fewer of the copies sent to it)."""
        n = self.members.live_count()
        sends = retransmit_limit(self.cfg.retransmit_mult, n) * self.swim.delivery()
        if miss_probability(sends, n) >= self.cfg.beacon_min_miss:
            self._beacon_at = now + self.cfg.beacon_delay

    def _send_beacon(self) -> None:
        self._beacon_at = _NEVER
        b = Beacon(self.id, self.generation, self.dir.replica.max_version(self.id))
        self._wake_gossip()
        self._write_q.put(("", "beacon", self.id), Tag.BEACON, pack_message(encode(b)))

    def _beacon_seen(self, owner: object, generation: object, version: object) -> bool:
        """Whether this beacon (or a newer one of its owner) was already handled; False when
        unsure (full validation follows)."""
        if type(owner) is not str or type(generation) is not int or type(version) is not int:
            return False
        seen = self._beacons.get(owner)
        return seen is not None and seen >= (generation, version)

    def _on_beacon(self, b: Beacon, now: float) -> None:
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
        self.dir.replica.announce(b.owner, b.generation, b.version)
        self._wake_gossip()
        self._write_q.put(("", "beacon", b.owner), Tag.BEACON, pack_message(encode(b)))

    def member_changed(self, change: MemberChange, source: str | None, now: float) -> None:
        if change.old is change.new and not change.restarted:
            return  # a refutation we had not doubted: nothing to report
        self.metrics.member_transitions += 1
        if change.new is MemberState.DEAD:
            self._dead_recent.append(change.node_id)
        self.dir.owner_changed(change, source, now)  # its event, then its agents

    # ----------------------------------------------------------------- inputs
    def handle_packet(self, payload: bytes, now: float) -> None:
        """A packet arrived (from anyone: it is authenticated and validated here)."""
        self._now = now
        self.last_src = None
        m = self.metrics
        m.packets_in += 1
        m.bytes_in += len(payload)
        try:
            _, src_id, src_addr, messages = self.codec.decode(payload)
        except CodecError as e:
            m.drop(e.reason, now)
            return
        if src_id == self.id:
            m.drop("from_self", now)
            return
        self.last_src = src_addr
        acted = False
        if self.members.get(src_id) is None:
            self.ae.unknown_sender(src_id, src_addr, now)
            acted = True
        stale = self.dir.replica.is_stale
        dups = 0
        for raw in messages:
            # Gossip brings most writes many times over: drop known ones before validating.
            tag = raw[0]
            if tag == _WRITE and len(raw) == 8 and stale(raw[1], raw[2], raw[3], raw[4]):
                dups += 1
                continue
            if tag == _BEACON and len(raw) == 4 and self._beacon_seen(raw[1], raw[2], raw[3]):
                dups += 1
                continue
            try:
                msg = parse(raw)
            except InvalidArgumentError:
                m.drop("malformed_message", now)
                continue
            if msg is None:
                m.drop("unknown_type", now)
                continue
            self._dispatch(msg, src_id, src_addr, now)
            acted = True
        m.duplicates_in += dups
        if acted:
            self.dir.commit(now)  # the packet's writes reach the view as one batch
            self._flush(now)
        # else: nothing but known news (most gossip packets), so no timer moved and nothing is
        # queued; poll_timeout's last answer stands.

    def handle_timeout(self, now: float) -> None:
        """Run every timer that is due at ``now``."""
        self._now = now
        if self.left:
            self._flush(now)
            return
        self.swim.tick(now)
        self.ae.tick(now)
        if now >= self._next_gossip:
            if self._member_q or self._write_q:
                self._next_gossip = now + self.cfg.gossip_interval
                self._last_gossip = now
                self._gossip_tick()
            else:
                # Nothing to say: no more ticks until news is queued (``_wake_gossip``).
                self._next_gossip = _NEVER
        if now >= self._next_reap:
            self._next_reap = now + min(60.0, self.cfg.tombstone_ttl / 4)
            self._reap(now)
        if now >= self._beacon_at:
            self._send_beacon()
        self.dir.tick(now)
        self._flush(now)

    def poll_timeout(self) -> float | None:
        """When ``handle_timeout`` must be called next (absolute, same clock as ``now``)."""
        if self.left:
            return None
        if self._deadline_stale:
            t = min(self.swim.next_deadline(), self.ae.next_deadline(), self._next_gossip,
                    self._next_reap, self._beacon_at)
            d = self.dir.next_deadline()
            self._deadline = t if d is None else min(t, d)
            self._deadline_stale = False
        return self._deadline

    def poll_transmit(self) -> Transmit | None:
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> RegistryEvent | None:
        q = self.events.poll_queue
        return q.popleft() if q else None

    def poll_result(self) -> Result | None:
        res = self.dir.results
        return res.popleft() if res else None

    # ---------------------------------------------------------------- joining
    def join(self, seeds: Sequence[str], now: float) -> None:
        """Join through ``seeds`` (addresses); retried every ``join_retry_interval`` until one
        answers."""
        self.ae.join(seeds, now)
        self._flush(now)

    # ----------------------------------------------------------------- writes
    def register(self, record: AgentRecord, now: float) -> AgentView:
        """Register an agent hosted here. Raises ``AgentExistsError`` if the id is visible."""
        self._live()
        view = self.dir.register(record, now)
        self._flush(now)
        return view

    def deregister(self, agent_id: str, now: float) -> bool | Pending:
        """Deregister; forwarded to the owner when it is another node (then a :class:`Pending`
        whose result comes from ``poll_result``)."""
        self._live()
        out = self.dir.deregister(agent_id, now)
        self._flush(now)
        return out

    def heartbeat(self, agent_id: str, now: float) -> bool | Pending:
        """Record a heartbeat; forwarded to the owner like :meth:`deregister`."""
        self._live()
        out = self.dir.heartbeat(agent_id, now)
        self._flush(now)
        return out

    def set_status(self, agent_id: str, status: AgentStatus, now: float,
                   reason: str = "manual") -> bool:
        """Write a status about any visible agent (ours or not); False if it is not visible.
        Its events say cause ``status_write`` and carry ``reason``."""
        self._live()
        ok = self.dir.set_status(agent_id, status, now, reason)
        self._flush(now)
        return ok

    def leave(self, now: float) -> None:
        """Leave gracefully: tell ``gossip_fanout`` peers at once and gossip the intent."""
        if self.left:
            return
        msg = self.swim.start_leave()
        self.gossip_member(self.id, msg)
        live = [m for m in self.members if m.node_id != self.id
                and m.state in (MemberState.ALIVE, MemberState.SUSPECT)]
        for m in self.rng.sample(live, min(len(live), self.cfg.gossip_fanout + 1)):
            self.send(m.addr, msg)
        self.members.set_self_left(now)
        self._flush(now)
        self.left = True

    def _live(self) -> None:
        if self.left:
            raise NodeStateError("this node has left the mesh")

    # ---------------------------------------------------------------- queries
    def get(self, agent_id: str) -> AgentView | None:
        return self.dir.view.visible.get(agent_id)

    def find(self, capability: str | Sequence[str] = "", *,
             status: AgentStatus | None = AgentStatus.ACTIVE, runtime_id: str | None = None,
             tags: Sequence[str] = (), node_id: str | None = None, limit: int | None = None,
             offset: int = 0) -> list[AgentView]:
        """Agents whose capabilities contain every term (case-insensitive), ranked."""
        ids = self.dir.view.index.find(capability, status=status, runtime_id=runtime_id,
                                       tags=tags, node_id=node_id, limit=limit, offset=offset)
        vis = self.dir.view.visible
        return [vis[i] for i in ids]

    def list_agents(self, runtime_id: str | None = None,
                    status: AgentStatus | None = None) -> list[AgentView]:
        out = []
        for v in self.dir.view.visible.values():
            if runtime_id is not None and v.record.runtime_id != runtime_id:
                continue
            if status is not None and v.status is not status:
                continue
            out.append(v)
        out.sort(key=lambda v: (v.record.registered_at, v.agent_id))
        return out

    def member_list(self) -> list[MemberInfo]:
        return self.members.info()

    def health_score(self) -> int:
        return self.swim.health

    def queue_depth(self) -> int:
        return len(self._member_q) + len(self._write_q)

    # --------------------------------------------------------------- dispatch
    def _dispatch(self, msg: Message, src_id: str, src_addr: str, now: float) -> None:
        swim = self.swim
        match msg:
            case Ping():
                if not swim.on_ping(msg, src_addr):
                    self.metrics.drop("misdirected")
            case Ack():
                swim.on_ack(msg, now)
            case PingReq():
                swim.on_ping_req(msg, src_addr, now)
            case Nack():
                swim.on_nack(msg)
            case Alive():
                swim.on_alive(msg, now)
            case Suspect():
                swim.on_suspect(msg, now, src_addr)
            case Dead():
                swim.on_dead(msg, now, src_addr)
            case Left():
                swim.on_left(msg, now, src_addr)
            case WriteMsg():
                if self.dir.receive_write(msg.write, now):
                    self.gossip_write(msg.write)
            case Beacon():
                self._on_beacon(msg, now)
            case Sync():
                self.ae.on_sync(msg, src_id, src_addr, now)
            case SyncAck():
                self.ae.on_sync_ack(msg, src_id, src_addr, now)
            case SyncAck2():
                self.ae.on_sync_ack2(msg, src_id, now)
            case Request():
                ok, detail = self.dir.serve_request(msg.op, msg.agent_id, now)
                self.send(src_addr, Response(msg.req_id, ok, detail))
            case Response():
                if self.dir.request_done(msg.req_id):
                    self.dir.results.append(Result(msg.req_id, msg.ok, msg.detail))

    def _reap(self, now: float) -> None:
        self.dir.replica.collect(now)
        for m in list(self.members):
            keep = (self.cfg.dead_retention if m.state is MemberState.DEAD
                    else self.cfg.left_retention if m.state is MemberState.LEFT else None)
            if keep is not None and now - m.since >= keep and m.node_id != self.id:
                self.members.remove(m.node_id)
                self._beacons.pop(m.node_id, None)
                self.dir.forget_owner(m.node_id, now)

    # ---------------------------------------------------------------- gossip
    def _limit(self) -> int:
        n = self.members.live_count()
        if n != self._limit_for[0]:
            self._limit_for = (n, retransmit_limit(self.cfg.retransmit_mult, n))
        return self._limit_for[1]

    def _take_broadcasts(self, budget: int) -> list[tuple[int, bytes]]:
        """Membership news first, then directory writes, within ``budget`` bytes."""
        limit = self._limit()
        member_q, write_q = self._member_q, self._write_q
        if not member_q:  # the usual case: writes only
            return write_q.take(budget, limit)
        out = member_q.take(budget, limit)
        if write_q:
            left = budget - sum(len(packed) for _, packed in out)
            if left > 0:
                out.extend(write_q.take(left, limit))
        return out

    def _gossip_tick(self) -> None:
        # Candidates: live members, plus the recently dead (so that a falsely accused member
        # hears about it and refutes). Sampled by index: O(fanout), not O(members).
        live = self.members.live_others
        dead = self._recent_dead() if self._dead_recent else []
        n = len(live) + len(dead)
        for i in _distinct_indices(self.rng, n, self.cfg.gossip_fanout):
            m = self.members.get(live[i]) if i < len(live) else dead[i - len(live)]
            assert m is not None
            taken = self._take_broadcasts(self.cfg.gossip_budget)
            if not taken:
                break
            self._out.setdefault(m.addr, []).extend(taken)
            self._gossiped.add(m.addr)

    def _recent_dead(self) -> list[Member]:
        """DEAD members that might still be within ``gossip_to_dead_time`` (pruned lazily)."""
        horizon = self._now - self.cfg.gossip_to_dead_time
        keep = []
        for node_id in self._dead_recent:
            m = self.members.get(node_id)
            if m is not None and m.state is MemberState.DEAD and m.since >= horizon:
                keep.append(m)
        self._dead_recent = [m.node_id for m in keep]
        return keep

    def _flush(self, now: float) -> None:
        """The end of an input: timers may have moved (``poll_timeout`` looks again), and
        queued messages become packets, small ones piggybacking broadcasts."""
        self._deadline_stale = True
        if not self._out:
            return
        out, self._out = self._out, {}
        gossiped = self._gossiped
        if gossiped:
            self._gossiped = set()
        metrics = self.metrics
        by_tag = metrics.bytes_out_by_tag
        budget = self.cfg.gossip_budget
        encode_packed, me, my_addr = self.codec.encode_packed, self.id, self.addr
        for addr, msgs in out.items():
            size = 0
            for tag, packed in msgs:
                n = len(packed)
                size += n
                by_tag[tag] += n
            room = budget - size
            # Cheapest tests first: most packets here are gossip, which carries broadcasts.
            if (addr not in gossiped and room > 64 and msgs[0][0] not in _SYNC_TAGS
                    and (self._member_q or self._write_q)):
                for tag, packed in self._take_broadcasts(room):
                    by_tag[tag] += len(packed)
                    msgs.append((tag, packed))
            try:
                payload = encode_packed(me, my_addr, [packed for _, packed in msgs])
            except InvalidArgumentError:
                metrics.drop("oversized_out")
                continue
            metrics.packets_out += 1
            metrics.bytes_out += len(payload)
            self._transmits.append(Transmit(addr, payload))
