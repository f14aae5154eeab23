"""The directory side of a node: owner writes, merging remote writes, and the owner's judges.

Rules:
- Only the hosting node writes ``agent/``, ``hb/`` and ``status/`` keys (a status set through
  another node is a request to the owner, which writes and signs it). An owner of the previous
  release takes no such request: the writer then writes its own ``status/`` key, as that
  release does; such keys are merged by their hybrid logical clock stamps.
- Every change reaches the view the same way: the replica reports typed changes, ``_apply``
  hands them to ``View.apply`` as one batch and puts the events in the node's queue. Writes
  received in one packet form one batch (``commit``).
- The owner judges its agents' heartbeats (``liveness``, when ``heartbeat_timeout`` is set):
  silent for ``heartbeat_timeout`` -> it writes UNHEALTHY (reason ``heartbeat_missed``), silent
  for ``auto_deregister_timeout`` -> it deregisters them (``heartbeat_expired``). A heartbeat
  after the verdict *withdraws* it: the status key gets back the owner's previous write (or is
  deleted). With one writer the verdict and its withdrawal are two versions of the key; stamps
  only order it against a previous release's keys.
- Deregistering, heartbeating or setting the status of another node's agent is forwarded to
  its owner as a request (the owner alone writes its agents' keys: they are signed).
- The owner writes its agents' ``load/`` keys through its load gate (``directory.load``).
- When an agent stops being visible here (a deregistration event), our own status write about
  it is deleted with reason ``gone``.
- A member that restarts while we hold its previous generation's agents is held until its new
  state arrives (``holds``; ``owner_changed`` answers True: the node asks it at once).
- The owner writes an agent's search vectors (``vec/<id>``) after its record, only for the
  record it still holds; deregistering deletes them with the record.
- Registering our agents, one or a batch: :mod:`~gossipreg.core.directory.registering`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.causes import CHECK_CAUSES, GONE, JUDGE_REASON
from gossipreg.core.directory.events import EventQueue
from gossipreg.core.directory.holds import Holds
from gossipreg.core.directory.liveness import HeartbeatJudge, Verdict
from gossipreg.core.directory.load import LoadGate
from gossipreg.core.directory.records import (
    AGENT,
    HB,
    LOAD,
    STATUS,
    VEC,
    Heartbeat,
    StatusWrite,
    load_from_value,
)
from gossipreg.core.directory.registering import Registering
from gossipreg.core.directory.requests import Pending, Requests, Result
from gossipreg.core.directory.view import View
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.membership.changes import MemberChanged
from gossipreg.core.membership.table import MemberChange, MemberTable
from gossipreg.core.replica.hlc import HybridClock
from gossipreg.core.replica.store import Change, OwnerDelta, Replica, Write
from gossipreg.core.search.vectors import VectorSet
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    Cause,
    MemberState,
    RegistryEvent,
    RegistryEventType,
)
from gossipreg.core.wire.messages import Feature, Request, Sender

__all__ = ["Directory", "DirectoryOut", "Pending", "Result"]

_INF = float("inf")
_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)
_DEREGISTERED = RegistryEventType.AGENT_DEREGISTERED
_STATUSES = {s.value: s for s in AgentStatus}


class DirectoryOut(Sender, Protocol):
    """Where the directory's messages go (the node's dissemination)."""

    def gossip_write(self, w: Write, now: float) -> None: ...
    def beacon_after(self, now: float) -> None: ...


class Directory(Registering):
    """Replica + view + the owner logic of one node. ``wall`` turns the caller's ``now`` into
    wall-clock seconds; events go to ``events``, messages to ``out``."""

    def __init__(self, node_id: str, cfg: NodeConfig, members: MemberTable, replica: Replica,
                 events: EventQueue, out: DirectoryOut, wall: Callable[[float], float],
                 now: float) -> None:
        self.id, self.cfg, self.members = node_id, cfg, members
        self.out, self.wall, self.replica = out, wall, replica
        self.view = View(node_id, self._member_state, self.replica, cfg.auto_deregister_timeout,
                         events)
        self.hlc = HybridClock(node_id, int(cfg.hlc_max_drift * 1000))
        self.liveness = HeartbeatJudge(cfg)  # the owner's heartbeat judge
        self.requests = Requests(cfg.request_timeout)  # forwarded to owners, and answers
        # Agents under our judge's UNHEALTHY verdict -> the write of ours it replaced.
        self._verdicts: dict[str, StatusWrite | None] = {}
        self._queue = events.extend
        # Remote changes received but not yet handed to the view (one packet's worth).
        self._pending: list[Change | MemberChanged] = []
        self._holds = Holds(members, replica, cfg)
        self._replaced = False  # a batch replaced an owner's generation: owner_restarted
        self.alone = True  # no seeds given: see _gossip
        self.loads = LoadGate(cfg.load_interval)

    def _member_state(self, owner: str) -> tuple[MemberState, float] | None:
        if self._holds and (held := self._holds.state(owner)) is not None:
            return held
        m = self.members.get(owner)
        return None if m is None else (m.state, m.since)

    def _wall_ms(self, now: float) -> int:
        return int(self.wall(now) * 1000)

    # ------------------------------------------------------------ the pipeline
    def _apply(self, changes: Sequence[Change | MemberChanged], now: float,
               cause: Cause | None = None, quiet: bool = False) -> None:
        """Hand a batch (after anything pending) to the view; queue its events (not if quiet);
        delete our own status writes about agents that disappeared (a batch too)."""
        if self._pending:
            changes = [*self._pending, *changes]
            self._pending = []
        if self._holds and self._holds.caught_up():
            self._replaced = True
        if self._replaced:
            self._replaced = False
            cause = cause or Cause.OWNER_RESTARTED
        if not changes:
            return
        events = self.view.apply(changes, now, self.wall(now), cause, quiet)
        if events:
            self._react(events, now, quiet)

    def _react(self, events: list[RegistryEvent], now: float, quiet: bool = False) -> None:
        """Queue a batch's events; delete our status writes about agents that went."""
        None if quiet else self._queue(events)
        gone: list[Change] = []
        own, visible = self.replica.own_value, self.view.visible
        for ev in events:
            if (ev[0] is _DEREGISTERED and (aid := ev[1]) is not None and aid not in visible
                    and own(STATUS + aid) and (c := self._delete(STATUS + aid, now, GONE))):
                gone.append(c)
        if gone:
            self._apply(gone, now, quiet=quiet)

    def commit(self, now: float) -> None:
        """Hand the pending remote changes to the view (at the end of a packet)."""
        if self._pending:
            self._apply([], now)

    # ------------------------------------------------------------ own writes
    def _write(self, key: str, value: Any, now: float) -> Change:
        told = not self.alone or len(self.members) > 1  # else nobody to tell (see _gossip)
        w, change = self.replica.put(key, value, told)
        if told:
            self._gossip(w, now)
        return change

    def _delete(self, key: str, now: float, reason: str | None = None) -> Change | None:
        if (out := self.replica.remove(key, now, reason)) is None:
            return None
        self._gossip(out[0], now)
        return out[1]

    def _gossip(self, w: Write, now: float) -> None:
        if self.alone and len(self.members) == 1:
            return  # nobody to tell: a member that joins later syncs the state on its join
        self.out.gossip_write(w, now)
        self.out.beacon_after(now)

    def own_agents(self) -> list[str]:
        """Ids of the agents this node hosts, sorted."""
        own = self.replica.own_value
        return sorted(k[6:] for k in self.replica.keys_of(self.id) if k[:6] == AGENT and own(k))

    def _owns(self, agent_id: str) -> bool:
        return self.replica.own_value(AGENT + agent_id) is not None

    def _remove_own(self, agent_id: str, now: float, reason: Cause) -> None:
        """Delete an agent's record, heartbeat and our status write in one batch (the record
        first: a peer that gets them apart sees the deregistration first)."""
        self.liveness.forget(agent_id)
        self._verdicts.pop(agent_id, None)
        self.loads.forget(agent_id)
        changes = [self._delete(AGENT + agent_id, now, reason._value_),
                   self._delete(HB + agent_id, now),
                   self._delete(STATUS + agent_id, now, GONE),
                   self._delete(LOAD + agent_id, now),
                   self._delete(VEC + agent_id, now)]
        self._apply([c for c in changes if c is not None], now)

    def write_vectors(self, record: AgentRecord, vectors: VectorSet, now: float) -> bool:
        """Write the search vectors of an agent we own (False, nothing written, when the
        record is no longer ours or no longer the one we hold)."""
        aid = record.agent_id
        if self.replica.own_value(AGENT + aid) is not record:
            return False
        self._apply([self._write(VEC + aid, vectors, now)], now)
        return True

    def _heartbeat_own(self, agent_id: str, now: float) -> None:
        old: Heartbeat | None = self.replica.own_value(HB + agent_id)
        count = (old.count if old is not None else 0) + 1
        changes: list[Change | None] = [
            self._write(HB + agent_id, Heartbeat(count, self._wall_ms(now)), now)]
        self.liveness.heard(agent_id, now)
        if agent_id in self._verdicts:
            # Withdraw the verdict: our previous write shows again, or none.
            before = self._verdicts.pop(agent_id)
            changes.append(self._delete(STATUS + agent_id, now) if before is None
                           else self._write(STATUS + agent_id, before, now))
        self._apply([c for c in changes if c is not None], now)

    def set_status(self, agent_id: str, status: AgentStatus, now: float,
                   reason: str) -> bool | Pending:
        """A caller's status write (``reason`` in their words): ours, written here; another
        node's, asked of that owner (a :class:`Pending`), unless the owner is of a release
        that takes no such request (then written under our own key, as that release does)."""
        if not isinstance(status, AgentStatus) or not isinstance(reason, str):
            raise InvalidArgumentError("status must be a status name; reason a string")
        self.commit(now)
        v = self.view.visible.get(agent_id)
        if v is None:
            return False
        if not self._owns(agent_id):
            m = self.members.get(v.node_id)
            if m is not None and m.understands(Feature.SIGNED):
                return self._forward("status", agent_id, now, (status.value, reason[:64]))
        self._set_status(agent_id, status, now, reason)
        return True

    def _set_status(self, agent_id: str, status: AgentStatus, now: float, reason: str,
                    verdict: bool = False) -> None:
        """Our status write; a declaration (not the judge's ``verdict``) replaces a verdict."""
        if not verdict:
            self._verdicts.pop(agent_id, None)
        stamp = self.hlc.now(self._wall_ms(now))
        self._apply([self._write(STATUS + agent_id, StatusWrite(status, stamp, reason[:64]),
                                 now)], now)

    def set_load(self, agent_id: str, active_tasks: int, max_concurrency: int,
                 now: float) -> bool:
        """The owner's new load of an agent it hosts (False: not ours); written by the gate.
        Raises InvalidArgumentError for counts out of range."""
        load = load_from_value([active_tasks, max_concurrency])
        if not self._owns(agent_id):
            return False
        due = self.loads.offer(agent_id, load, now)
        if due is not None:
            self._apply([self._write(LOAD + agent_id, due, now)], now)
        return True

    def deregister(self, agent_id: str, now: float) -> bool | Pending:
        self.commit(now)
        if self._owns(agent_id):
            self._remove_own(agent_id, now, Cause.DEREGISTERED)
            return True
        return self._forward("deregister", agent_id, now)

    def heartbeat(self, agent_id: str, now: float) -> bool | Pending:
        if self._owns(agent_id):
            self._heartbeat_own(agent_id, now)
            return True
        return self._forward("heartbeat", agent_id, now)

    def _forward(self, op: str, agent_id: str, now: float, args: tuple[str, str] | None = None
                 ) -> bool | Pending:
        v = self.view.visible.get(agent_id)
        m = None if v is None else self.members.get(v.node_id)
        if m is None or m.state not in _LIVE:
            return False
        pending = self.requests.open(now)
        self.out.send(m.addr, Request(pending.req_id, op, agent_id, args))
        return pending

    def serve_request(self, op: str, agent_id: str, now: float,
                      args: tuple[str, str] | None = None) -> tuple[bool, str]:
        """Act on a request another node forwarded for one of our agents."""
        if not self._owns(agent_id):
            return False, "unknown agent"
        self.commit(now)
        if op == "deregister":
            self._remove_own(agent_id, now, Cause.DEREGISTERED)
        elif op == "heartbeat":
            self._heartbeat_own(agent_id, now)
        else:
            status = _STATUSES.get(args[0]) if args is not None else None
            if status is None or args is None or args[1] in CHECK_CAUSES:
                return False, "not a status, or a reason reserved for the owner's checks"
            self._set_status(agent_id, status, now, args[1])
        return True, ""

    def holder(self, owner: str, key: str, deleted: bool, batch: set[str]) -> str | None:
        """For a write by ``owner``: None when it is the owner's to make; else the node that
        shows the agent it speaks of ("" when none does here). Only a live ``status/`` key can
        be another's; ``batch`` holds keys of ``owner`` taken along with this write."""
        if deleted or not key.startswith(STATUS):
            return None
        aid = key[len(STATUS):]
        if AGENT + aid in batch or self.replica.value(owner, AGENT + aid) is not None:
            return None
        v = self.view.visible.get(aid)
        return "" if v is None else v.node_id

    # --------------------------------------------------------------- merging
    def receive_write(self, w: Write, now: float) -> bool:
        """Merge a broadcast write; its changes wait for :meth:`commit` (the packet's end)."""
        changes = self.replica.apply_write(w, now)
        if changes:
            if type(w.value) is StatusWrite:
                self.hlc.observe(w.value.stamp, self._wall_ms(now))
            if changes[0][3] is None:  # an older generation's keys went first: a restart
                self._replaced = True
            self._pending.extend(changes)
        return bool(changes)

    def apply_delta(self, deltas: Iterable[OwnerDelta], now: float, quiet: bool = False) -> None:
        """Merge anti-entropy deltas; ``quiet``: a bulk load, which queues no events."""
        gen, deltas = self.replica.generation_of, list(deltas)
        before = {od.owner: gen(od.owner) for od in deltas}
        changes = self.replica.apply_delta(deltas, now)
        self._replaced |= any(0 < g < gen(o) for o, g in before.items())  # a restart
        for c in changes:
            v = c[3].value if c[3] is not None else None
            if type(v) is StatusWrite:
                self.hlc.observe(v.stamp, self._wall_ms(now))
        self._apply(changes, now, quiet=quiet)

    def owner_changed(self, change: MemberChange, source: str | None, now: float) -> bool:
        """A member's state changed: its event and its agents' re-derivation are one batch
        (with the old generation's keys when it restarted). True when the member is held
        after a restart: the caller asks it for its new state (see the rules)."""
        m = self.members.get(change.node_id)
        assert m is not None
        meta: dict[str, Any] = {"node_id": m.node_id, "address": m.addr,
                                "incarnation": m.incarnation, "generation": m.generation}
        if source is not None and change.new in (MemberState.SUSPECT, MemberState.DEAD):
            meta["source"] = source
        batch: list[Change | MemberChanged] = [
            MemberChanged(change.node_id, change.old, change.new, change.restarted, meta)]
        owner, cause = m.node_id, None
        held, reset = self._holds.after_change(change, m.generation, self.view.expiry(owner), now)
        if reset:
            batch.extend(self.replica.reset_owner(owner, m.generation))
            cause = Cause.OWNER_RESTARTED
        self._apply(batch, now, cause)
        return held

    def forget_owner(self, owner: str, now: float) -> None:
        self._holds.drop(owner)
        self._apply(self.replica.forget_owner(owner), now, Cause.OWNER_FAILED)

    # ---------------------------------------------------------------- judges
    def next_deadline(self) -> float:
        """When :meth:`tick` must run next (infinity: no timer)."""
        t = _INF  # (asked after every input: comparisons, not a generator and min())
        for d in (self.view.next_deadline(), self._holds.next_deadline(),
                  self.liveness.next_deadline(), self.requests.next_deadline(),
                  self.loads.next_deadline()):
            if d is not None and d < t:
                t = d
        return t

    def tick(self, now: float) -> None:
        for aid, verdict in self.liveness.due(now):
            if verdict is Verdict.EXPIRED:
                self._remove_own(aid, now, Cause.HEARTBEAT_EXPIRED)
                continue
            v = self.view.visible.get(aid)
            if (v is not None and v.status is not AgentStatus.UNHEALTHY
                    and aid not in self._verdicts):
                self._verdicts[aid] = self.replica.own_value(STATUS + aid)
                self._set_status(aid, AgentStatus.UNHEALTHY, now, JUDGE_REASON, verdict=True)
        for owner in self._holds.due(now) if self._holds else ():
            m = self.members.get(owner)  # no new state came: the old one goes, as before
            if m is not None:
                self._apply(self.replica.reset_owner(owner, m.generation), now,
                            Cause.OWNER_RESTARTED)
        for aid, load in self.loads.due(now):
            if self._owns(aid):
                self._apply([self._write(LOAD + aid, load, now)], now)
        self.commit(now)
        expired = self.view.tick(now, self.wall(now))
        if expired:
            self._react(expired, now)
        self.requests.expire(now)
