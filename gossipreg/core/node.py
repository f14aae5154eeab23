"""One gossipreg node, sans-I/O: a router over its state machines.

The contract. Inputs are calls that carry ``now`` (monotonic seconds chosen by the caller):
``handle_packet``, ``handle_unreachable``, ``handle_timeout``, ``join``, ``register``,
``deregister``, ``heartbeat``, ``set_status``, ``set_load``, ``leave`` (and the operator's
``rotate_identity``, ``forget_node``). Outputs are returned (``handle_packet``'s :class:`Received`)
or drained by the caller: ``poll_transmit`` (packets), ``poll_event`` (registry events),
``poll_result`` (answers to requests forwarded to an agent's owner) and ``poll_timeout`` (when to
call ``handle_timeout`` next). Reads go through ``read`` (:class:`~gossipreg.core.reader.Reader`),
search vectors through ``vectors`` (:class:`~gossipreg.core.directory.vectors.VectorInputs`). The
node never reads a clock, opens a socket or starts a task. Inputs that may stamp data or events
also take ``wall``.

Rules: a packet is authenticated and validated by ``inbound``, then each message goes to the
machine it belongs to: SWIM (``swim``), the directory (``dir``: replica, view, the owner's
judges), anti-entropy (``ae``) or dissemination (``out``: queues, ticks, beacons, packets). A write
received by broadcast and new to us is re-queued (infection-style), so it reaches everyone in
O(log n) gossip rounds; push-pull repairs what broadcasts missed. Inputs end by packing the queue.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TypeVar

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory import records as rec
from gossipreg.core.directory.causes import check_reason
from gossipreg.core.directory.directory import Directory, Pending, Result
from gossipreg.core.directory.events import EventQueue
from gossipreg.core.directory.vectors import VectorInputs
from gossipreg.core.errors import InvalidArgumentError, NodeStateError
from gossipreg.core.gossip.antientropy import AntiEntropy
from gossipreg.core.gossip.dissemination import Dissemination, Transmit
from gossipreg.core.identity_calls import IdentityCalls
from gossipreg.core.inbound import Inbound, Received
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberChange, MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.reader import Reader, Vitals
from gossipreg.core.replica.store import Replica
from gossipreg.core.trust.judge import Trust
from gossipreg.core.trust.proofs import Identity
from gossipreg.core.types import AgentRecord, AgentStatus, AgentView, MemberState, RegistryEvent
from gossipreg.core.warm import WarmStart
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.codec import Codec, FrameKeys
from gossipreg.core.wire.keyring import Keyring
from gossipreg.core.wire.tags import Feature

__all__ = ["Node", "Pending", "Received", "Result", "Transmit"]
_T = TypeVar("_T")


class Node(FrameKeys, WarmStart, IdentityCalls):
    """A gossip node. See the module docstring for the contract (the frame keys' methods are
    :class:`~gossipreg.core.wire.codec.FrameKeys`', the warm start's
    :class:`~gossipreg.core.warm.WarmStart`', the operator's identity calls
    :class:`~gossipreg.core.identity_calls.IdentityCalls`'); ``features``: its transport's
    paths."""

    def __init__(self, node_id: str, addr: str, config: NodeConfig | None = None, *,
                 rng: random.Random, now: float, generation: int = 1,
                 keyring: Keyring | None = None, stream_id: str | None = None,
                 identity: Identity | None = None, pins: Mapping[str, bytes] | None = None,
                 cards: rec.CardJudge | None = None, features: int = 0) -> None:
        """``identity`` signs our writes and checks everyone's (None: nothing is; an embedded
        registry); ``pins``: keys an earlier run pinned (:mod:`gossipreg.core.trust.judge`);
        ``cards`` judges signed agent cards by this node's publisher keys."""
        self.id = rec.check_id(node_id, "node_id")
        if is_unspecified(addr):
            raise InvalidArgumentError(f"cannot advertise {addr}: an unspecified address")
        self.addr, self.rng, self.cards = addr, rng, cards
        self.cfg = config if config is not None else NodeConfig()
        self._clock = (now, 0.0)  # (now, wall) of the latest input that carried wall time
        self.generation, self.metrics = generation, Metrics()
        self.codec = Codec(self.cfg.cluster, keyring, max_packet_size=self.cfg.max_packet_size)
        self.events = EventQueue(stream_id if stream_id is not None else f"{generation:x}")
        self.members = MemberTable(self.id, addr, generation, now, features)
        values = rec.RECORD_VALUES if cards is None else rec.RecordValues(cards)
        t = self.trust = None if identity is None else Trust(
            self.id, self.cfg.cluster, identity, values, self.metrics, self.members,
            required=self.cfg.require_signatures, pins=pins)
        replica = Replica(self.id, generation, self.cfg.tombstone_ttl, self.cfg.max_tombstones,
                          value_size=rec.wire_size, sign=None if t is None else t.sign_write)
        # Outgoing traffic (``delivery`` is asked lazily: the failure detector is built below).
        self.out = Dissemination(self.id, addr, generation, self.cfg, rng, self.codec,
                                 self.metrics, self.members, replica,
                                 lambda: self.swim.delivery(), now, values)
        self.dir = Directory(self.id, self.cfg, self.members, replica, self.events, self.out,
                             lambda t: self._clock[1] + (t - self._clock[0]), now)
        self.swim = Swim(self.cfg, self.members, self.out, self._member_changed, rng, now, t)
        self.left = False
        self._deadline_stale, self._deadline, self._dir_due = True, float("inf"), float("inf")
        self._next_reap = now + min(60.0, self.cfg.tombstone_ttl / 4)
        self.ae = AntiEntropy(self.id, addr, generation, self.cfg, rng, self.members,
                              self.metrics, self.out, self.swim, self.dir.replica,
                              self.dir.apply_delta if t is None else t.guard(self.dir.apply_delta),
                              now, None if t is None else t.seal)
        if t is not None:
            t.bind(replica.is_stale, replica.announce, self.dir.holder,
                   lambda: replica.max_version(self.id))
        self.inbound = Inbound(self.id, self.codec, self.metrics, self.members, self.swim,
                               self.dir, self.ae, self.out, values, t)
        self.vectors = VectorInputs(self.dir.view.vectors, self.dir, self._flush)
        self.dir.view.vectors.on_bad = lambda _: self.metrics.drop("bad_vectors")
        self.read = Reader(self.id, addr, self.dir.view, self.members, self.metrics,
                           self.dir.replica, self.dir.own_agents,
                           lambda: Vitals(self.left, self.swim.health, self.out.queue_depth(),
                                          self.events.dropped, self.ae.joined, self.ae.refused))

    @property
    def joined(self) -> bool:
        """Whether a seed has answered our join (True when there was nothing to join)."""
        return self.ae.joined

    @property
    def join_refused(self) -> str | None:
        """Why a seed refused our join (another live node has our name), if one did."""
        return self.ae.refused

    @property
    def seeds(self) -> list[str]:  # the seed addresses a join goes to
        return self.ae.seeds

    def set_seeds(self, seeds: Sequence[str]) -> None:
        """Replace the seed addresses (a host resolves DNS seeds again before each attempt)."""
        self.ae.set_seeds(seeds)
        self.dir.alone = self.dir.alone and not self.ae.seeds

    def _member_changed(self, change: MemberChange, source: str | None, now: float) -> None:
        if change.old is change.new and not change.restarted:
            return  # a refutation we had not doubted: nothing to report
        self.metrics.member_transitions += 1
        if change.new is MemberState.DEAD:
            self.out.member_dead(change.node_id)
        elif change.old is MemberState.DEAD:
            self.ae.revived(now)  # a path to a member held DEAD works again: a healed cut?
        if self.dir.owner_changed(change, source, now):  # its event, then its agents
            self.ae.ask_state(change.node_id)  # held after a restart: its new state, now

    # ----------------------------------------------------------------- inputs
    def handle_packet(self, payload: bytes, now: float, src: str | None = None, *,
                      wall: float) -> Received:
        """A packet arrived (``src``, what the transport knows of the sender, is for drop logs
        only): why it was dropped, or where a reply may go."""
        self._clock = (now, wall)
        got, acted = self.inbound.receive(payload, now, src)
        if acted:
            self.dir.commit(now)  # the packet's writes reach the view as one batch
            self._flush(now)
        # else: only known news (most gossip packets): no timer moved, nothing queued.
        return got

    def handle_unreachable(self, addr: str, now: float) -> None:
        """A frame to ``addr`` was not delivered: the failure detector probes it now."""
        self.swim.on_unreachable(addr, now)
        self._flush(now)

    def handle_timeout(self, now: float, *, wall: float) -> None:
        """Run every timer that is due at ``now``."""
        self._clock = (now, wall)
        if self.left:
            self._flush(now)
            return
        self.swim.tick(now)
        self.ae.tick(now)
        self.out.tick(now)
        if now >= self._next_reap:
            self._next_reap = now + min(60.0, self.cfg.tombstone_ttl / 4)
            self._reap(now)
        self.out.tick_beacon(now)
        if self._deadline_stale or self._dir_due <= now:  # (see poll_timeout)
            self.dir.tick(now)
        self._flush(now)

    def poll_timeout(self) -> float | None:
        """When ``handle_timeout`` must be called next (absolute, same clock as ``now``)."""
        if self.left:
            return None
        if self._deadline_stale:  # (handle_timeout skips the directory until _dir_due)
            self._dir_due = self.dir.next_deadline()
            self._deadline = min(self.swim.next_deadline(), self.ae.next_deadline(),
                                 self.out.next_deadline(), self._next_reap, self._dir_due)
            self._deadline_stale = False
        return self._deadline

    def poll_transmit(self) -> Transmit | None:
        return self.out.poll_transmit()

    def poll_event(self) -> RegistryEvent | None:
        return self.events.poll_queue.popleft() if self.events.poll_queue else None

    def poll_result(self) -> Result | None:
        return self.dir.requests.results.popleft() if self.dir.requests.results else None

    def join(self, seeds: Sequence[str], now: float) -> None:
        """Join through ``seeds`` (addresses), retried every ``join_retry_interval``."""
        self.ae.join(seeds, now)
        if self.trust is not None and self.trust.bootstrap(bool(self.ae.seeds)):
            self.members.me.features |= Feature.REQUIRES_SIGNATURES
        self.dir.alone = self.dir.alone and not self.ae.seeds
        self._flush(now)

    # ----------------------------------------------------------------- writes
    def register(self, record: AgentRecord, now: float, *, wall: float,
                 quiet: bool = False) -> AgentView:
        """Register an agent hosted here (``quiet``: the host takes no AGENT_REGISTERED event;
        none is made). Raises ``AgentExistsError`` if the id is visible."""
        self._begin(now, wall)
        return self._registered(self.dir.register(rec.judged(record, self.cards), now, quiet), now)

    def register_many(self, records: Mapping[str, AgentRecord], now: float, *, wall: float,
                      quiet: bool = False) -> list[tuple[int, Exception]]:
        """:meth:`register` of each record (by agent id, in order), as one input: the refused
        ones by position, with why (``NodeStateError`` for all once we left)."""
        try:
            self._begin(now, wall)
        except NodeStateError as e:
            return [(i, e) for i in range(len(records))]
        cards = self.cards
        return self._registered(self.dir.register_many(
            records if cards is None else {a: rec.judged(r, cards) for a, r in records.items()},
            now, quiet), now)

    def _registered(self, out: _T, now: float) -> _T:
        if self._deadline_stale or not (self.dir.alone and len(self.members) == 1):
            return self._flushed(out, now)
        if (hb := self.cfg.heartbeat_timeout) is not None:  # nothing queued: the judge's turn
            self._deadline = min(self._deadline, now + hb)
        return out

    def deregister(self, agent_id: str, now: float, *, wall: float) -> bool | Pending:
        """Deregister; forwarded to the owner when it is another node (then a :class:`Pending`
        whose result comes from ``poll_result``)."""
        self._begin(now, wall)
        return self._flushed(self.dir.deregister(agent_id, now), now)

    def heartbeat(self, agent_id: str, now: float, *, wall: float) -> bool | Pending:
        """Record a heartbeat; forwarded to the owner like :meth:`deregister`."""
        self._begin(now, wall)
        return self._flushed(self.dir.heartbeat(agent_id, now), now)

    def set_status(self, agent_id: str, status: AgentStatus, now: float,
                   reason: str = "manual", *, check: bool = False, wall: float
                   ) -> bool | Pending:
        """Set the status of any visible agent (False if it is not visible): written here for
        ours, asked of the owner otherwise, like :meth:`deregister`. Its events say cause
        ``status_write`` and carry ``reason``; with ``check`` it is the owner's health check
        speaking (``check_failed`` or ``check_passed``, which no other writer may use)."""
        check_reason(reason, check)
        self._begin(now, wall)
        return self._flushed(self.dir.set_status(agent_id, status, now, reason), now)

    def set_load(self, agent_id: str, active: int, cap: int, now: float, *, wall: float) -> bool:
        """The load (``active_tasks``, ``max_concurrency``) of an agent hosted here, written
        when it matters (``directory.load``); False when this node does not host it."""
        self._begin(now, wall)
        return self._flushed(self.dir.set_load(agent_id, active, cap, now), now)

    def leave(self, now: float) -> None:
        """Leave gracefully: tell ``gossip_fanout`` peers at once and gossip the intent."""
        if self.left:
            return
        msg = self.swim.start_leave()
        self.out.gossip_member(self.id, msg, now)
        live = [m for m in self.members if m.node_id != self.id and m.state.running]
        for m in self.rng.sample(live, min(len(live), self.cfg.gossip_fanout + 1)):
            self.out.send(m.addr, msg)
        self.members.set_self_left(now)
        self._flush(now)
        self.left = True

    def _begin(self, now: float, wall: float) -> None:  # a write: refused once we left
        if self.left:
            raise NodeStateError("this node has left the mesh")
        self._clock = (now, wall)

    def _reap(self, now: float) -> None:
        self.dir.replica.collect(now)
        for m in list(self.members):
            keep = (self.cfg.dead_retention if m.state is MemberState.DEAD
                    else self.cfg.left_retention if m.state is MemberState.LEFT else None)
            if keep is not None and now - m.since >= keep and m.node_id != self.id:
                self.members.remove(m.node_id)
                self.out.forget_owner(m.node_id)
                self.dir.forget_owner(m.node_id, now)
        if self.trust is not None:
            self.trust.expire(now, self.cfg.dead_retention)

    def _flush(self, now: float) -> None:
        """The end of an input: timers may have moved, queued messages become packets."""
        self._deadline_stale = True
        self.out.flush()

    def _flushed(self, out: _T, now: float) -> _T:  # an input's answer, after _flush
        self._flush(now)
        return out
