"""The directory side of a node: owner writes, merging remote writes, and the owner's judges.

Rules:
- Only the hosting node writes ``agent/`` and ``hb/`` keys; any node writes its own ``status/``
  key about any visible agent, stamped by its hybrid logical clock.
- Every change reaches the view the same way: the replica reports typed changes, ``_apply``
  hands them to ``View.apply`` as one batch and puts the events in the node's queue. Writes
  received in one packet form one batch (``commit``).
- The owner judges its agents' heartbeats (when ``heartbeat_timeout`` is set): silent for
  ``heartbeat_timeout`` -> it writes UNHEALTHY (reason ``heartbeat_missed``), silent for
  ``auto_deregister_timeout`` -> it deregisters them (``heartbeat_expired``). A heartbeat after
  the verdict *withdraws* it (puts back our previous write, or deletes the key), so the newest
  declaration by anyone else shows again: the judge never writes a fresh status that could
  outrank a declaration it has not seen yet. One writer per verdict, so every node agrees.
- Deregistering or heartbeating another node's agent is forwarded to its owner as a request.
- The owner writes its agents' ``load/`` keys through its load gate (``directory.load``).
- When an agent stops being visible here (a deregistration event), our own status write about
  it is deleted with reason ``gone``.
- A member that restarts while we hold its previous generation's agents is held until its new
  state arrives (``holds``; ``owner_changed`` answers True: the node asks it at once).
- The owner writes an agent's search vectors (``vec/<id>``) after its record, only for the
  record it still holds; deregistering deletes them with the record.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.causes import GONE, JUDGE_REASON
from gossipreg.core.directory.events import EventQueue
from gossipreg.core.directory.holds import Holds
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
from gossipreg.core.directory.requests import Pending, Requests, Result
from gossipreg.core.directory.view import View
from gossipreg.core.errors import AgentExistsError, InvalidArgumentError
from gossipreg.core.membership.changes import MemberChanged
from gossipreg.core.membership.table import MemberChange, MemberTable
from gossipreg.core.replica.hlc import HybridClock
from gossipreg.core.replica.store import Change, OwnerDelta, Replica, Write
from gossipreg.core.search.vectors import VectorSet
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    Cause,
    MemberState,
    RegistryEvent,
    RegistryEventType,
)
from gossipreg.core.wire.messages import Request, Sender

__all__ = ["Directory", "DirectoryOut", "Pending", "Result"]

_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)
_DEREGISTERED = RegistryEventType.AGENT_DEREGISTERED


class DirectoryOut(Sender, Protocol):
    """Where the directory's messages go (the node's dissemination)."""

    def gossip_write(self, w: Write, now: float) -> None: ...
    def beacon_after(self, now: float) -> None: ...


class Directory:
    """Replica + view + the owner logic of one node. ``wall`` turns the caller's ``now`` into
    wall-clock seconds; events go to ``events``, messages to ``out``."""

    def __init__(self, node_id: str, cfg: NodeConfig, members: MemberTable, replica: Replica,
                 events: EventQueue, out: DirectoryOut, wall: Callable[[float], float],
                 now: float) -> None:
        self.id = node_id
        self.cfg = cfg
        self.members = members
        self.out = out
        self.wall = wall
        self.replica = replica
        self.view = View(node_id, self._member_state, self.replica, cfg.auto_deregister_timeout,
                         events)
        self.hlc = HybridClock(node_id, int(cfg.hlc_max_drift * 1000))
        self._last_hb: dict[str, float] = {}
        # The owner's heartbeat judge: (next deadline, agent id), one entry per armed agent.
        self._judge: list[tuple[float, str]] = []
        self._armed: set[str] = set()
        self.requests = Requests(cfg.request_timeout)  # forwarded to owners, and answers
        # Agents under our judge's UNHEALTHY verdict -> the write of ours it replaced.
        self._verdicts: dict[str, StatusWrite | None] = {}
        self._queue = events.extend
        # Remote changes received but not yet handed to the view (one packet's worth).
        self._pending: list[Change | MemberChanged] = []
        self._holds = Holds(members, replica, cfg.request_timeout, cfg.auto_deregister_timeout)
        self._replaced = False  # a batch replaced an owner's generation: owner_restarted
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
               cause: Cause | None = None) -> None:
        """Hand a batch (after anything pending) to the view; queue its events; delete our
        own status writes about agents that disappeared (their deletion is a batch too)."""
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
        events = self.view.apply(changes, now, self.wall(now), cause)
        if events:
            self._react(events, now)

    def _react(self, events: list[RegistryEvent], now: float) -> None:
        """Queue a batch's events; delete our status writes about agents that went."""
        self._queue(events)
        gone: list[Change] = []
        own, visible = self.replica.own_value, self.view.visible
        for ev in events:
            if (ev[0] is _DEREGISTERED and (aid := ev[1]) is not None and aid not in visible
                    and own(STATUS + aid)):
                c = self._delete(STATUS + aid, now, GONE)
                if c is not None:
                    gone.append(c)
        if gone:
            self._apply(gone, now)

    def commit(self, now: float) -> None:
        """Hand the pending remote changes to the view (at the end of a packet)."""
        if self._pending:
            self._apply([], now)

    # ------------------------------------------------------------ own writes
    def _write(self, key: str, value: Any, now: float) -> Change:
        w, change = self.replica.put(key, value)
        self._gossip(w, now)
        return change

    def _delete(self, key: str, now: float, reason: str | None = None) -> Change | None:
        out = self.replica.remove(key, now, reason)
        if out is None:
            return None
        self._gossip(out[0], now)
        return out[1]

    def _gossip(self, w: Write, now: float) -> None:
        self.out.gossip_write(w, now)
        self.out.beacon_after(now)

    def own_agents(self) -> list[str]:
        """Ids of the agents this node hosts, sorted."""
        n = len(AGENT)
        return sorted(k[n:] for k in self.replica.keys_of(self.id)
                      if k.startswith(AGENT) and self.replica.own_value(k) is not None)

    def _owns(self, agent_id: str) -> bool:
        return self.replica.own_value(AGENT + agent_id) is not None

    def register(self, record: AgentRecord, now: float) -> AgentView:
        aid = record.agent_id
        self.commit(now)
        if aid in self.view.visible or self._owns(aid):
            raise AgentExistsError(f"Agent {aid} already registered")
        if not record.registered_at:
            record = dataclasses.replace(record, registered_at=self.wall(now))
        self._apply([self._write(AGENT + aid, record, now)], now)
        self._last_hb[aid] = now
        self._arm(aid, now)
        return self.view.visible[aid]

    def _remove_own(self, agent_id: str, now: float, reason: Cause) -> None:
        """Delete an agent's record, heartbeat and our status write in one batch (the record
        first: a peer that gets them apart sees the deregistration first)."""
        self._last_hb.pop(agent_id, None)
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
        self._last_hb[agent_id] = now
        self._arm(agent_id, now)
        if agent_id in self._verdicts:
            # Withdraw the verdict: our previous write shows again, or none.
            before = self._verdicts.pop(agent_id)
            changes.append(self._delete(STATUS + agent_id, now) if before is None
                           else self._write(STATUS + agent_id, before, now))
        self._apply([c for c in changes if c is not None], now)

    def set_status(self, agent_id: str, status: AgentStatus, now: float, reason: str) -> bool:
        """A caller's status write (``reason`` in their words)."""
        if not isinstance(status, AgentStatus) or not isinstance(reason, str):
            raise InvalidArgumentError("status must be a status name; reason a string")
        self.commit(now)
        if agent_id not in self.view.visible:
            return False
        self._verdicts.pop(agent_id, None)
        self._set_status(agent_id, status, now, reason)
        return True

    def _set_status(self, agent_id: str, status: AgentStatus, now: float, reason: str) -> None:
        self._apply([self._status_write(agent_id, status, now, reason)], now)

    def _status_write(self, agent_id: str, status: AgentStatus, now: float,
                      reason: str) -> Change:
        stamp = self.hlc.now(self._wall_ms(now))
        return self._write(STATUS + agent_id, StatusWrite(status, stamp, reason[:64]), now)

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

    def _forward(self, op: str, agent_id: str, now: float) -> bool | Pending:
        v = self.view.visible.get(agent_id)
        if v is None:
            return False
        m = self.members.get(v.node_id)
        if m is None or m.state not in _LIVE:
            return False
        pending = self.requests.open(now)
        self.out.send(m.addr, Request(pending.req_id, op, agent_id))
        return pending

    def serve_request(self, op: str, agent_id: str, now: float) -> tuple[bool, str]:
        if not self._owns(agent_id):
            return False, "unknown agent"
        self.commit(now)
        if op == "deregister":
            self._remove_own(agent_id, now, Cause.DEREGISTERED)
        else:
            self._heartbeat_own(agent_id, now)
        return True, ""

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

    def apply_delta(self, deltas: Iterable[OwnerDelta], now: float) -> None:
        gen, deltas = self.replica.generation_of, list(deltas)
        before = {od.owner: gen(od.owner) for od in deltas}
        changes = self.replica.apply_delta(deltas, now)
        self._replaced |= any(0 < g < gen(o) for o, g in before.items())  # a restart
        for c in changes:
            v = c[3].value if c[3] is not None else None
            if type(v) is StatusWrite:
                self.hlc.observe(v.stamp, self._wall_ms(now))
        self._apply(changes, now)

    def owner_changed(self, change: MemberChange, source: str | None, now: float) -> bool:
        """A member's state changed: its event and its agents' re-derivation are one batch
        (with the old generation's keys when it restarted). True when the member restarted
        and is now held: the caller asks it for its new state (see the rules)."""
        m = self.members.get(change.node_id)
        assert m is not None
        meta: dict[str, Any] = {"node_id": m.node_id, "address": m.addr,
                                "incarnation": m.incarnation, "generation": m.generation}
        if source is not None and change.new in (MemberState.SUSPECT, MemberState.DEAD):
            meta["source"] = source
        batch: list[Change | MemberChanged] = [
            MemberChanged(change.node_id, change.old, change.new, change.restarted, meta)]
        owner, cause = m.node_id, None
        held = change.restarted and self._holds.hold(owner, change.old, m.generation,
                                                     self.view.expiry(owner), now)
        if not held and (change.restarted or self._holds.drop(owner)):
            batch.extend(self.replica.reset_owner(owner, m.generation))
            cause = Cause.OWNER_RESTARTED
        self._apply(batch, now, cause)
        return held

    def forget_owner(self, owner: str, now: float) -> None:
        self._holds.drop(owner)
        self._apply(self.replica.forget_owner(owner), now, Cause.OWNER_FAILED)

    # ---------------------------------------------------------------- judges
    def _arm(self, agent_id: str, now: float) -> None:
        """Make sure the judge looks at ``agent_id`` by its next deadline. One heap entry per
        agent: a heartbeat only moves ``_last_hb``; the entry re-arms itself when it fires."""
        cfg = self.cfg
        if cfg.heartbeat_timeout is None or agent_id in self._armed:
            return
        heapq.heappush(self._judge, (now + cfg.heartbeat_timeout, agent_id))
        self._armed.add(agent_id)

    def next_deadline(self) -> float | None:
        t = self.view.next_deadline()
        if (h := self._holds.next_deadline()) is not None:
            t = h if t is None else min(t, h)
        if self._judge:
            t = self._judge[0][0] if t is None else min(t, self._judge[0][0])
        for r in (self.requests.next_deadline(), self.loads.next_deadline()):
            if r is not None:
                t = r if t is None else min(t, r)
        return t

    def tick(self, now: float) -> None:
        cfg = self.cfg
        while self._judge and self._judge[0][0] <= now:
            _, aid = heapq.heappop(self._judge)
            self._armed.discard(aid)
            last = self._last_hb.get(aid)
            if last is None or cfg.heartbeat_timeout is None:
                continue
            # Same float expressions as the deadlines armed, so verdicts fire exactly on time.
            unhealthy_at = last + cfg.heartbeat_timeout
            expire_at = last + cfg.auto_deregister_timeout
            if expire_at <= now:
                self._remove_own(aid, now, Cause.HEARTBEAT_EXPIRED)
                continue
            if unhealthy_at <= now:
                v = self.view.visible.get(aid)
                if (v is not None and v.status is not AgentStatus.UNHEALTHY
                        and aid not in self._verdicts):
                    self._verdicts[aid] = self.replica.own_value(STATUS + aid)
                    self._set_status(aid, AgentStatus.UNHEALTHY, now, JUDGE_REASON)
            heapq.heappush(self._judge, (unhealthy_at if unhealthy_at > now else expire_at, aid))
            self._armed.add(aid)
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
