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
from typing import Any, Protocol

from gossipreg.core.index import CapabilityIndex
from gossipreg.core.records import AGENT, HB, STATUS, Heartbeat, StatusWrite, split_key
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberState,
    RegistryEvent,
    RegistryEventType,
)

__all__ = ["Store", "View"]

E = RegistryEventType
MemberLookup = Callable[[str], "tuple[MemberState, float] | None"]
# Who holds a key about an agent: usually one owner, kept as a plain str (a set costs ~200 B).
Holders = str | set[str]


class Store(Protocol):
    """The replica as the view reads it: current values, and the keys of an owner."""

    def value(self, owner: str, key: str) -> Any: ...
    def keys_of(self, owner: str) -> Iterable[str]: ...


def _add(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if h is None:
        table[agent_id] = owner
    elif isinstance(h, str):
        if h != owner:
            table[agent_id] = {h, owner}
    else:
        h.add(owner)


def _discard(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if isinstance(h, str):
        if h == owner:
            del table[agent_id]
    elif h is not None:
        h.discard(owner)
        if len(h) == 1:
            table[agent_id] = next(iter(h))


def _each(h: Holders | None) -> Iterable[str]:
    if h is None:
        return ()
    return (h,) if isinstance(h, str) else h


class View:
    """Derived, queryable state of one node, updated incrementally. Values are read from the
    replica (``store``); the view keeps only who holds which agent's keys, the visible agents
    and the index."""

    def __init__(self, self_id: str, members: MemberLookup, store: Store,
                 auto_deregister_timeout: float, max_events: int = 100_000) -> None:
        self.self_id = self_id
        self._member = members
        self._store = store
        self.auto_deregister_timeout = auto_deregister_timeout
        # agent id -> owners holding its record / a status write about it
        self._holders: dict[str, Holders] = {}
        self._raters: dict[str, Holders] = {}
        self.visible: dict[str, AgentView] = {}
        self.index = CapabilityIndex()
        self._expiry: dict[str, float] = {}
        self.events: deque[RegistryEvent] = deque()
        self.max_events = max_events
        self.events_dropped = 0
        # Agents that stopped being visible since the host last looked (it cleans up after them).
        self.disappeared: list[str] = []

    # ------------------------------------------------------------------ inputs
    def apply(self, owner: str, key: str, value: Any, deleted: bool, wall: float) -> None:
        """A replica key changed (the replica already holds ``value``): update who holds what
        and re-derive its agent."""
        vt = type(value)
        if vt is AgentRecord:
            agent_id = value.agent_id  # the record's own string: no second copy of the id
            _add(self._holders, agent_id, owner)
        elif vt is Heartbeat:
            agent_id = key[len(HB):]
            old = self.visible.get(agent_id)
            if old is None:
                return  # a heartbeat of an agent we do not show changes nothing
            if old.node_id == owner:
                # Fast path: the shown owner's counter moved, nothing else can have.
                new = AgentView(old.record, owner, old.status, value.wall_ms / 1000.0,
                                value.count)
                self.visible[agent_id] = new
                if new.heartbeat_count > old.heartbeat_count:
                    self._emit(E.AGENT_HEARTBEAT, new, wall, {"count": new.heartbeat_count})
                return
        else:
            # Keys in the replica were validated on the way in: a plain split is enough.
            prefix, agent_id = split_key(key)
            if prefix == AGENT:
                _discard(self._holders, agent_id, owner)
            elif prefix == STATUS:
                if deleted:
                    _discard(self._raters, agent_id, owner)
                else:
                    _add(self._raters, agent_id, owner)
            elif agent_id not in self.visible:
                return
        self.rederive(agent_id, wall)

    def owner_changed(self, owner: str, now: float, wall: float) -> None:
        """An owner's member state changed: re-derive its agents, arm the DEAD expiry."""
        st = self._member(owner)
        if st is not None and st[0] is MemberState.DEAD:
            self._expiry[owner] = st[1] + self.auto_deregister_timeout
        else:
            self._expiry.pop(owner, None)
        for agent_id in self._agents_of(owner):
            self.rederive(agent_id, wall, now)

    def _agents_of(self, owner: str) -> list[str]:
        n = len(AGENT)
        return sorted(k[n:] for k in self._store.keys_of(owner) if k.startswith(AGENT)
                      and self._store.value(owner, k) is not None)

    def forget_owner(self, owner: str, keys: Iterable[str], wall: float) -> None:
        """The replica dropped an owner's live ``keys`` (it is gone for good, or restarted with
        a new generation)."""
        self._expiry.pop(owner, None)
        touched = set()
        for key in keys:
            prefix, agent_id = split_key(key)
            if prefix == AGENT:
                _discard(self._holders, agent_id, owner)
            elif prefix == STATUS:
                _discard(self._raters, agent_id, owner)
            touched.add(agent_id)
        for agent_id in sorted(touched):
            self.rederive(agent_id, wall)

    def next_deadline(self) -> float | None:
        return min(self._expiry.values()) if self._expiry else None

    def tick(self, now: float, wall: float) -> None:
        for owner in [o for o, t in self._expiry.items() if t <= now]:
            del self._expiry[owner]
            for agent_id in self._agents_of(owner):
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
        raters = self._raters.get(agent_id)
        if raters is None:
            return None
        floor = int(record.registered_at * 1000)
        best: StatusWrite | None = None
        key = STATUS + agent_id
        for owner in _each(raters):
            w: StatusWrite | None = self._store.value(owner, key)
            if w is not None and w.stamp.wall_ms >= floor and (best is None
                                                                or w.stamp > best.stamp):
                best = w
        return best

    def _derive(self, agent_id: str, now: float | None) -> AgentView | None:
        holders = self._holders.get(agent_id)
        if holders is None:
            return None
        key = AGENT + agent_id
        rec: AgentRecord | None
        if type(holders) is str:  # one owner: the usual case
            owner = holders
            vis, dead = self._owner_visible(owner, now)
            if not vis:
                return None
            rec = self._store.value(owner, key)
        else:
            best: tuple[float, str] | None = None
            rec, dead = None, False
            for o in holders:
                vis, is_dead = self._owner_visible(o, now)
                if not vis:
                    continue
                r: AgentRecord = self._store.value(o, key)
                if best is None or (r.registered_at, o) < best:
                    best, rec, dead = (r.registered_at, o), r, is_dead
            if best is None:
                return None
            owner = best[1]
        if rec is None:
            return None
        hb: Heartbeat | None = self._store.value(owner, HB + agent_id)
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
                    "old_status": old.status._value_,  # _value_: .value is a slow descriptor
                    "new_status": new.status._value_,
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
        self.index.put(r.agent_id, r.capabilities, v.status, r.runtime_id, r.registered_at,
                       r.tags, v.node_id, r)

    def _appear(self, v: AgentView, wall: float) -> None:
        r = v.record
        if not self.index.runtime_size(r.runtime_id):
            self._emit(E.RUNTIME_JOINED, v, wall, {"node_id": v.node_id}, agent=False)
        self.visible[r.agent_id] = v
        self._index_put(v)
        self.push_event(RegistryEvent(E.AGENT_REGISTERED, r.agent_id, r.runtime_id, wall, {
            "capabilities": list(r.capabilities),
            "name": r.name,
            "node_id": v.node_id,
            "status": v.status._value_,
        }))

    def _disappear(self, v: AgentView, wall: float, cause: str) -> None:
        del self.visible[v.agent_id]
        self.index.remove(v.agent_id)
        self.disappeared.append(v.agent_id)
        self._emit(E.AGENT_DEREGISTERED, v, wall, {"node_id": v.node_id, "cause": cause})
        if not self.index.runtime_size(v.record.runtime_id):
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
    def runtimes(self) -> dict[str, set[str]]:
        """Runtime id -> ids of its visible agents."""
        out: dict[str, set[str]] = {}
        for aid, v in self.visible.items():
            out.setdefault(v.record.runtime_id, set()).add(aid)
        return out
