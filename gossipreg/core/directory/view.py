"""What a node sees: visible agents, their effective status, and the events that follow.

Rules:
- One pipeline: ``apply(changes, now, wall)`` takes a batch of typed changes (replica changes
  ``(owner, key, old entry, new entry)`` and member changes) and returns the events, after
  updating the visible state. Each touched agent is derived once, after the whole batch: a
  batch deleting an agent's record and its status yields one deregistration, no status event.
- A record is visible while its owner is this node, ALIVE or SUSPECT, or DEAD for less than
  ``auto_deregister_timeout`` (always judged at ``now``). LEFT or unknown owners show nothing.
- Two owners may hold a record under one agent id (concurrent registrations): the one with the
  smallest ``(registered_at, owner)`` wins on every node.
- Effective status: OFFLINE while the owner is DEAD; otherwise the status write with the highest
  HLC stamp made after the registration (and stamped by its writer), ACTIVE if none. A status
  write deleted because its agent is gone (tombstone reason ``gone``) still stands here until
  the agent is gone here too.
- Events: REGISTERED / DEREGISTERED when an agent appears / disappears, STATUS_CHANGED (never
  old == new), HEARTBEAT when the counter grows; each carries its :class:`Cause`. RUNTIME_JOINED
  precedes the first REGISTERED of a runtime; RUNTIME_LEFT follows its last DEREGISTERED. An own
  registration the host takes no REGISTERED event of (``add_own(quiet=True)``) makes none
  (our own new agents: :mod:`~gossipreg.core.directory.own_adds`).
- Search vectors (``vec/`` keys, and the node's own embeddings) make no events: they go to the
  index through :class:`~gossipreg.core.directory.vectors.VectorFeed`.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any, Protocol

from gossipreg.core.directory.causes import (
    GONE,
    JUDGE_REASON,
    TOMBSTONE_CAUSES,
    gone_cause,
    is_verdict,
    status_cause,
)
from gossipreg.core.directory.declared import declared
from gossipreg.core.directory.events import EventQueue
from gossipreg.core.directory.holders import Holders, add_holder, discard_holder
from gossipreg.core.directory.own_adds import OwnAdds, registered_meta
from gossipreg.core.directory.quiet_load import QuietLoad
from gossipreg.core.directory.records import (
    AGENT,
    HB,
    STATUS,
    VEC,
    Heartbeat,
    StatusWrite,
    split_key,
)
from gossipreg.core.directory.vectors import VectorFeed
from gossipreg.core.membership.changes import MemberChanged
from gossipreg.core.replica.store import Change, Entry
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    Cause,
    MemberState,
    RegistryEvent,
    RegistryEventType,
)

__all__ = ["MemberChanged", "Store", "View"]

E = RegistryEventType
MemberLookup = Callable[[str], "tuple[MemberState, float] | None"]
# A named tuple without its Python-level constructor (one view per change applied).
_new = tuple.__new__


class Store(Protocol):
    """The replica as the view reads it: current values, and the keys of an owner."""

    def value(self, owner: str, key: str) -> Any: ...
    def keys_of(self, owner: str) -> Iterable[str]: ...


class View(OwnAdds, QuietLoad):
    """Derived, queryable state of one node, updated incrementally. Values are read from the
    replica (``store``); the view keeps only who holds which agent's keys, the visible agents
    and the index."""

    def __init__(self, self_id: str, members: MemberLookup, store: Store,
                 auto_deregister_timeout: float, queue: EventQueue | None = None) -> None:
        self.self_id = self_id
        # Events are numbered as they are made, by the node's queue (which the host drains).
        self.queue = queue if queue is not None else EventQueue("view")
        self._event = self.queue.make
        self._member = members
        self._store = store
        self.auto_deregister_timeout = auto_deregister_timeout
        # agent id -> owners holding its record / a status write about it
        self._holders: dict[str, Holders] = {}
        self._raters: dict[str, Holders] = {}
        # agent id -> {writer: write} deleted by their writers because the agent was gone there
        self._standing: dict[str, dict[str, StatusWrite]] = {}
        self.visible: dict[str, AgentView] = {}
        self.index = CapabilityIndex()
        self.vectors = VectorFeed(self_id, self.index, self.visible, store)
        self._expiry: dict[str, float] = {}
        self._gone: dict[str, Cause] = {}
        self._resumed: set[str] = set()
        self._winner: StatusWrite | None = None

    # ------------------------------------------------------------------ inputs
    def apply(self, changes: Sequence[Change | MemberChanged], now: float, wall: float,
              cause: Cause | None = None, quiet: bool = False) -> list[RegistryEvent]:
        """Apply a batch (the replica already holds the new entries); returns its events.
        ``cause`` explains disappearances the batch itself does not (an owner's reset).
        ``quiet``: a bulk load, in which an agent appearing makes no event (see ``_load``)."""
        out: list[RegistryEvent] = []
        # Per batch (filled by _note): record tombstones' reasons, verdicts withdrawn.
        if self._gone:
            self._gone = {}
        if self._resumed:
            self._resumed = set()
        if len(changes) == 1 and type(changes[0]) is tuple:  # the usual batch: one write
            one: Change = changes[0]  # type: ignore[assignment]  # (no cast() call: hot)
            new = one[3]
            aid: str | None
            if new is not None and type(new.value) is Heartbeat:  # the most frequent write
                aid = one[1][3:]  # len(HB)
                if aid not in self.visible or self._beat(one[0], aid, new.value, wall, out):
                    return out
            else:
                aid = self._note(one, (), wall, out)
            if aid is not None:
                self._rederive(aid, now, wall, out, self._gone.get(aid, cause),
                               aid in self._resumed)
            return out
        touched: dict[str, None] = {}  # an ordered set
        for ch in changes:
            if type(ch) is MemberChanged:
                self._member_changed(ch, now, wall, out)
                touched.update(dict.fromkeys(self._agents_of(ch.node_id)))
            elif (aid := self._note(ch, touched, wall, out)) is not None:  # type: ignore[arg-type]
                touched[aid] = None
        if quiet:
            self._load(touched, now, wall, out, cause)
            return out
        for agent_id in touched:
            self._rederive(agent_id, now, wall, out, self._gone.get(agent_id, cause),
                           agent_id in self._resumed)
        return out

    def _note(self, ch: Change, touched: Container[str], wall: float,
              out: list[RegistryEvent]) -> str | None:
        """Update who holds what for one change; the agent to re-derive, if any."""
        owner, key, old, new = ch
        value: Any = None if new is None or new.deleted else new.value
        vt = type(value)
        if vt is Heartbeat:
            agent_id = key[len(HB):]
            if agent_id not in self.visible or (
                    agent_id not in touched and self._beat(owner, agent_id, value, wall, out)):
                return None  # not shown, or the fast path had all there was to do
            return agent_id
        if vt is AgentRecord:
            agent_id = str(value.agent_id)  # the record's own string: no second copy of it
            add_holder(self._holders, agent_id, owner)
            return agent_id
        # Keys in the replica were validated on the way in: a plain split is enough.
        prefix, agent_id = split_key(key)
        if prefix == AGENT:
            discard_holder(self._holders, agent_id, owner)
            if new is not None and new.value is not None:
                why = TOMBSTONE_CAUSES.get(new.value)
                if why is not None:
                    self._gone[agent_id] = why
        elif prefix == STATUS:
            self._status_changed(agent_id, owner, old, new)
        elif prefix == VEC:
            self.vectors.owner_wrote(agent_id, owner, value)
            return None
        elif agent_id not in self.visible:
            return None
        return agent_id

    def _beat(self, owner: str, agent_id: str, hb: Heartbeat, wall: float,
              out: list[RegistryEvent]) -> bool:
        """Fast path: the shown owner's counter moved, nothing else can have. False when
        the heartbeat needs the full derivation (another owner's)."""
        v = self.visible[agent_id]
        if v.node_id != owner:
            return False
        nv = _new(AgentView, (v.record, owner, v.status, hb.wall_ms / 1000.0, hb.count))
        self.visible[agent_id] = nv
        if nv.heartbeat_count > v.heartbeat_count:
            out.append(self._event(E.AGENT_HEARTBEAT, agent_id, v.record.runtime_id, wall,
                                   {"count": nv.heartbeat_count}))
        return True

    def _status_changed(self, agent_id: str, owner: str, old: Entry | None,
                        new: Entry | None) -> None:
        before: StatusWrite | None = None if old is None or old.deleted else old.value
        after: StatusWrite | None = None if new is None or new.deleted else new.value
        if self._standing and (standing := self._standing.get(agent_id)) is not None:
            standing.pop(owner, None)
            if not standing:
                del self._standing[agent_id]
        if after is not None:
            add_holder(self._raters, agent_id, owner)
        else:
            discard_holder(self._raters, agent_id, owner)
            if before is not None and new is not None and new.value == GONE:
                if agent_id in self.visible:
                    self._standing.setdefault(agent_id, {})[owner] = before
                return
        if (before is not None and before.cause == JUDGE_REASON and is_verdict(before, owner)
                and (after is None or after.stamp < before.stamp)):
            self._resumed.add(agent_id)

    def _member_changed(self, ch: MemberChanged, now: float, wall: float,
                        out: list[RegistryEvent]) -> None:
        out.append(self._event(ch.kind, None, None, wall, ch.meta))
        if ch.new is MemberState.DEAD:
            st = self._member(ch.node_id)
            since = st[1] if st is not None else now
            self._expiry[ch.node_id] = since + self.auto_deregister_timeout
        else:
            self._expiry.pop(ch.node_id, None)

    def _agents_of(self, owner: str) -> list[str]:
        n = len(AGENT)
        return sorted(k[n:] for k in self._store.keys_of(owner) if k.startswith(AGENT)
                      and self._store.value(owner, k) is not None)

    def next_deadline(self) -> float | None:
        return min(self._expiry.values()) if self._expiry else None

    def expiry(self, owner: str) -> float | None:
        """When a DEAD owner's agents go (None: not DEAD here, or already gone)."""
        return self._expiry.get(owner)

    def tick(self, now: float, wall: float) -> list[RegistryEvent]:
        """DEAD owners past ``auto_deregister_timeout``: their agents go; returns the events."""
        out: list[RegistryEvent] = []
        for owner in [o for o, t in self._expiry.items() if t <= now]:
            del self._expiry[owner]
            for agent_id in self._agents_of(owner):
                self._rederive(agent_id, now, wall, out, None, False)
        return out

    # --------------------------------------------------------------- derivation
    def _owner_visible(self, owner: str, now: float) -> tuple[bool, bool]:
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
            return now < since + self.auto_deregister_timeout, True
        return False, False

    def _derive(self, agent_id: str, now: float,
                seen: dict[str, tuple[bool, bool]] | None = None) -> AgentView | None:
        holders = self._holders.get(agent_id)
        if holders is None:
            return None
        key = AGENT + agent_id
        rec: AgentRecord | None
        if type(holders) is str:  # one owner: the usual case
            owner = holders
            if seen is None:
                vis, dead = self._owner_visible(owner, now)
            elif (vd := seen.get(owner)) is not None:
                vis, dead = vd
            else:
                vis, dead = seen[owner] = self._owner_visible(owner, now)
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
        # The winning write, kept for the cause of a status change (derived just after).
        self._winner = w = None if dead else declared(
            self._raters.get(agent_id), self._standing.get(agent_id) if self._standing else None,
            self._store.value, agent_id, rec)
        status = (AgentStatus.OFFLINE if dead else AgentStatus.ACTIVE if w is None
                  else w.status)
        return _new(AgentView, (rec, owner, status,
                                hb.wall_ms / 1000.0 if hb is not None else rec.registered_at,
                                hb.count if hb is not None else 0))

    def _rederive(self, agent_id: str, now: float, wall: float, out: list[RegistryEvent],
                  cause: Cause | None, resumed: bool) -> None:
        old = self.visible.get(agent_id)
        new = self._derive(agent_id, now)
        if old is None and new is None:
            if self._standing:
                self._standing.pop(agent_id, None)
            return
        if new is not None and old is not None and new.record.runtime_id != old.record.runtime_id:
            self._disappear(old, wall, Cause.MOVED, out)
            old = None
        if old is None and new is not None:
            self._appear(new, wall, out)
        elif new is None and old is not None:
            if self._standing:
                self._standing.pop(agent_id, None)
            self._disappear(old, wall, cause or gone_cause(
                self._member(old.node_id) if old.node_id != self.self_id else None), out)
        elif new is not None and old is not None:
            self.visible[agent_id] = new
            # Identity first: the record object is usually the same (a dataclass == is dear).
            if ((new.record is not old.record and new.record != old.record)
                    or new.node_id != old.node_id):
                self._index_put(new)
            if new.status is not old.status:
                self.index.set_status(agent_id, new.status)
                meta = {
                    "old_status": old.status._value_,  # _value_: .value is a slow descriptor
                    "new_status": new.status._value_,
                }
                status_cause(old, new, self._winner, resumed, meta)
                out.append(self._event(E.AGENT_STATUS_CHANGED, agent_id,
                                       new.record.runtime_id, wall, meta))
            if new.heartbeat_count > old.heartbeat_count:
                out.append(self._event(E.AGENT_HEARTBEAT, agent_id, new.record.runtime_id,
                                       wall, {"count": new.heartbeat_count}))

    def _index_put(self, v: AgentView) -> None:
        r = v.record
        self.index.put(r.agent_id, r.capabilities, v.status, r.runtime_id, r.registered_at,
                       r.tags, v.node_id, r)
        self.vectors.shown(v)

    def _appear(self, v: AgentView, wall: float, out: list[RegistryEvent],
                quiet: bool = False) -> None:
        r = v.record
        if not self.index.runtime_size(r.runtime_id):
            out.append(self._event(E.RUNTIME_JOINED, None, r.runtime_id, wall,
                                   {"node_id": v.node_id}))
        self.visible[r.agent_id] = v
        self._index_put(v)
        if not quiet:  # (the host said nobody takes it: not made, no number taken)
            out.append(self._event(E.AGENT_REGISTERED, r.agent_id, r.runtime_id, wall,
                                   registered_meta(r, v.node_id, v.status)))

    def _disappear(self, v: AgentView, wall: float, cause: Cause,
                   out: list[RegistryEvent]) -> None:
        r = v.record
        aid, rt = r.agent_id, r.runtime_id
        del self.visible[aid]
        self.index.remove(aid)
        self.vectors.gone(aid)
        out.append(self._event(E.AGENT_DEREGISTERED, aid, rt, wall, {
            "node_id": v.node_id, "cause": cause._value_}))
        if not self.index.runtime_size(rt):
            out.append(self._event(E.RUNTIME_LEFT, None, rt, wall, {"node_id": v.node_id}))
