"""What a node sees: visible agents, their effective status, and the events that follow.

Rules (DESIGN §4):
- A record is visible while its owner is this node, ALIVE or SUSPECT, or DEAD for less than
  ``auto_deregister_timeout``. LEFT or unknown owners show nothing.
- Two owners may hold a record under one agent id (concurrent registrations): the one with the
  smallest ``(registered_at, owner)`` wins on every node.
- Effective status: OFFLINE while the owner is DEAD; otherwise the status write with the highest
  HLC stamp made after the registration, ACTIVE if none.
- Events are derived by comparing an agent's view before and after a change: REGISTERED /
  DEREGISTERED when it appears / disappears, STATUS_CHANGED, HEARTBEAT when the counter grows.
  RUNTIME_JOINED precedes the first REGISTERED of a runtime; RUNTIME_LEFT follows its last
  DEREGISTERED. Only the agents touched by a change are re-derived.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from gossipreg.core.index import CapabilityIndex
from gossipreg.core.records import (
    AGENT,
    HB,
    Heartbeat,
    StatusWrite,
    heartbeat_from_value,
    parse_key,
    record_from_value,
    status_from_value,
)
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberState,
    RegistryEvent,
    RegistryEventType,
)

__all__ = ["View"]

E = RegistryEventType
MemberLookup = Callable[[str], "tuple[MemberState, float] | None"]


class View:
    """Derived, queryable state of one node, updated incrementally."""

    def __init__(self, self_id: str, members: MemberLookup, auto_deregister_timeout: float,
                 max_events: int = 100_000) -> None:
        self.self_id = self_id
        self._member = members
        self.auto_deregister_timeout = auto_deregister_timeout
        self._records: dict[str, dict[str, AgentRecord]] = {}
        self._hb: dict[str, dict[str, Heartbeat]] = {}
        self._status: dict[str, dict[str, StatusWrite]] = {}
        self._owned: dict[str, set[str]] = {}
        self.visible: dict[str, AgentView] = {}
        self.runtimes: dict[str, set[str]] = {}
        self.index = CapabilityIndex()
        self._expiry: dict[str, float] = {}
        self.events: deque[RegistryEvent] = deque()
        self.max_events = max_events
        self.events_dropped = 0
        # Agents that stopped being visible since the host last looked (it cleans up after them).
        self.disappeared: list[str] = []

    # ------------------------------------------------------------------ inputs
    def apply(self, owner: str, key: str, value: Any, deleted: bool, wall: float) -> None:
        """A replica key changed: update the raw tables and re-derive its agent. Record values
        arrive as validated :class:`AgentRecord` objects (shared with the replica)."""
        prefix, agent_id = parse_key(key)
        if prefix == AGENT:
            recs = self._records.setdefault(agent_id, {})
            if deleted:
                recs.pop(owner, None)
                self._owned.get(owner, set()).discard(agent_id)
                if not recs:
                    del self._records[agent_id]
            else:
                recs[owner] = (value if isinstance(value, AgentRecord)
                               else record_from_value(value))
                self._owned.setdefault(owner, set()).add(agent_id)
        else:
            table: dict[str, dict[str, Any]] = self._hb if prefix == HB else self._status
            rows = table.setdefault(agent_id, {})
            if deleted:
                rows.pop(owner, None)
                if not rows:
                    del table[agent_id]
            else:
                rows[owner] = (heartbeat_from_value(value) if prefix == HB
                               else status_from_value(value))
        self.rederive(agent_id, wall)

    def owner_changed(self, owner: str, now: float, wall: float) -> None:
        """An owner's member state changed: re-derive its agents, arm the DEAD expiry."""
        st = self._member(owner)
        if st is not None and st[0] is MemberState.DEAD:
            self._expiry[owner] = st[1] + self.auto_deregister_timeout
        else:
            self._expiry.pop(owner, None)
        for agent_id in sorted(self._owned.get(owner, ())):
            self.rederive(agent_id, wall, now)

    def forget_owner(self, owner: str, wall: float) -> None:
        """Drop raw state of an owner that is gone for good."""
        self._expiry.pop(owner, None)
        for agent_id in sorted(self._owned.pop(owner, set())):
            recs = self._records.get(agent_id)
            if recs is not None:
                recs.pop(owner, None)
                if not recs:
                    del self._records[agent_id]
            for table in (self._hb, self._status):
                rows = table.get(agent_id)
                if rows is not None:
                    rows.pop(owner, None)
                    if not rows:
                        del table[agent_id]
            self.rederive(agent_id, wall)

    def next_deadline(self) -> float | None:
        return min(self._expiry.values()) if self._expiry else None

    def tick(self, now: float, wall: float) -> None:
        for owner in [o for o, t in self._expiry.items() if t <= now]:
            del self._expiry[owner]
            for agent_id in sorted(self._owned.get(owner, ())):
                self.rederive(agent_id, wall, now)

    # --------------------------------------------------------------- derivation
    def _owner_visible(self, owner: str, now: float | None) -> tuple[bool, bool]:
        """``(visible, dead)`` for an owner's records."""
        if owner == self.self_id:
            return True, False
        st = self._member(owner)
        if st is None:
            return False, False
        state, since = st
        if state is MemberState.ALIVE or state is MemberState.SUSPECT:
            return True, False
        if state is MemberState.DEAD:
            if now is None:
                return owner in self._expiry, True
            return now < since + self.auto_deregister_timeout, True
        return False, False

    def declared(self, agent_id: str, record: AgentRecord) -> StatusWrite | None:
        """The winning status write made after the agent's registration."""
        floor = int(record.registered_at * 1000)
        best: StatusWrite | None = None
        for w in self._status.get(agent_id, {}).values():
            if w.stamp.wall_ms >= floor and (best is None or w.stamp > best.stamp):
                best = w
        return best

    def _derive(self, agent_id: str, now: float | None) -> AgentView | None:
        recs = self._records.get(agent_id)
        if not recs:
            return None
        best: tuple[float, str] | None = None
        dead = False
        for owner, rec in recs.items():
            vis, is_dead = self._owner_visible(owner, now)
            if vis and (best is None or (rec.registered_at, owner) < best):
                best, dead = (rec.registered_at, owner), is_dead
        if best is None:
            return None
        owner = best[1]
        rec = recs[owner]
        hb = self._hb.get(agent_id, {}).get(owner)
        if dead:
            status = AgentStatus.OFFLINE
        else:
            w = self.declared(agent_id, rec)
            status = AgentStatus.ACTIVE if w is None else w.status
        return AgentView(rec, owner, status,
                         hb.wall_ms / 1000.0 if hb is not None else rec.registered_at,
                         hb.count if hb is not None else 0)

    def rederive(self, agent_id: str, wall: float, now: float | None = None) -> None:
        old = self.visible.get(agent_id)
        new = self._derive(agent_id, now)
        if old is None and new is None:
            return
        if new is not None and old is not None and new.record.runtime_id != old.record.runtime_id:
            self._disappear(old, wall, "moved")
            old = None
        if old is None and new is not None:
            self._appear(new, wall)
        elif new is None and old is not None:
            self._disappear(old, wall, self._cause_gone(old, now))
        elif new is not None and old is not None:
            self.visible[agent_id] = new
            if new.record != old.record or new.node_id != old.node_id:
                self._index_put(new)
            if new.status != old.status:
                self.index.set_status(agent_id, new.status)
                self._emit(E.AGENT_STATUS_CHANGED, new, wall, {
                    "old_status": old.status.value,
                    "new_status": new.status.value,
                    "cause": self._cause_status(agent_id, old, new),
                })
            if new.heartbeat_count > old.heartbeat_count:
                self._emit(E.AGENT_HEARTBEAT, new, wall, {"count": new.heartbeat_count})

    def _cause_gone(self, old: AgentView, now: float | None) -> str:
        st = self._member(old.node_id) if old.node_id != self.self_id else None
        if st is None:
            return "deregistered"
        if st[0] is MemberState.LEFT:
            return "owner_left"
        if st[0] is MemberState.DEAD:
            return "owner_failed"
        return "deregistered"

    def _cause_status(self, agent_id: str, old: AgentView, new: AgentView) -> str:
        if new.status is AgentStatus.OFFLINE:
            return "owner_failed"
        if old.status is AgentStatus.OFFLINE:
            return "owner_recovered"
        w = self.declared(agent_id, new.record)
        return "status_write" if w is None else w.cause

    def _index_put(self, v: AgentView) -> None:
        r = v.record
        self.index.upsert(r.agent_id, r.capabilities, status=v.status, runtime_id=r.runtime_id,
                          order_key=(r.registered_at, r.agent_id), tags=r.tags, node_id=v.node_id)

    def _appear(self, v: AgentView, wall: float) -> None:
        rt = v.record.runtime_id
        members = self.runtimes.get(rt)
        if not members:
            members = self.runtimes[rt] = set()
            self._emit(E.RUNTIME_JOINED, v, wall, {"node_id": v.node_id}, agent=False)
        members.add(v.agent_id)
        self.visible[v.agent_id] = v
        self._index_put(v)
        self._emit(E.AGENT_REGISTERED, v, wall, {
            "capabilities": list(v.record.capabilities),
            "name": v.record.name,
            "node_id": v.node_id,
            "status": v.status.value,
        })

    def _disappear(self, v: AgentView, wall: float, cause: str) -> None:
        del self.visible[v.agent_id]
        self.index.remove(v.agent_id)
        self.disappeared.append(v.agent_id)
        self._emit(E.AGENT_DEREGISTERED, v, wall, {"node_id": v.node_id, "cause": cause})
        rt = v.record.runtime_id
        members = self.runtimes.get(rt)
        if members is not None:
            members.discard(v.agent_id)
            if not members:
                del self.runtimes[rt]
                self._emit(E.RUNTIME_LEFT, v, wall, {"node_id": v.node_id}, agent=False)

    def _emit(self, kind: RegistryEventType, v: AgentView, wall: float,
              meta: dict[str, Any], agent: bool = True) -> None:
        self.push_event(RegistryEvent(kind, v.agent_id if agent else None, v.record.runtime_id,
                                      wall, meta))

    def push_event(self, event: RegistryEvent) -> None:
        """Queue an event; the oldest is dropped (and counted) when the buffer is full."""
        if len(self.events) >= self.max_events:
            self.events.popleft()
            self.events_dropped += 1
        self.events.append(event)

    # ------------------------------------------------------------------ queries
    def owned_by(self, owner: str) -> Iterable[str]:
        return self._owned.get(owner, ())
