"""The directory side of a node: owner writes, merging remote writes, and the owner's judges.

Rules:
- Only the hosting node writes ``agent/`` and ``hb/`` keys; any node writes its own ``status/``
  key about any visible agent, stamped by its hybrid logical clock.
- The owner judges its agents' heartbeats (when ``heartbeat_timeout`` is set): silent for
  ``heartbeat_timeout`` -> it writes UNHEALTHY (cause ``heartbeat_timeout``), silent for
  ``auto_deregister_timeout`` -> it deregisters them. A heartbeat after such an UNHEALTHY
  restores ACTIVE. One writer per verdict, so every node agrees.
- Deregistering or heartbeating another node's agent is forwarded to its owner as a request.
- When an agent stops being visible here, our own status write about it is deleted.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gossipreg.core.errors import AgentExistsError
from gossipreg.core.hlc import HybridClock
from gossipreg.core.membership import MemberChange
from gossipreg.core.messages import Request
from gossipreg.core.records import AGENT, HB, STATUS, Heartbeat, StatusWrite
from gossipreg.core.replica import OwnerDelta, Replica, Write
from gossipreg.core.types import AgentRecord, AgentStatus, AgentView, MemberState
from gossipreg.core.view import View

if TYPE_CHECKING:
    from gossipreg.core.node import Node

__all__ = ["Directory", "Pending", "Result"]

_LIVE = (MemberState.ALIVE, MemberState.SUSPECT)


@dataclass(frozen=True, slots=True)
class Pending:
    """A request forwarded to another node; its :class:`Result` arrives via ``poll_result``."""

    req_id: int


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a forwarded request."""

    req_id: int
    ok: bool
    detail: str


class Directory:
    """Replica + view + the owner logic of one node."""

    def __init__(self, node: Node, now: float) -> None:
        self.node = node
        cfg = node.cfg
        self.replica = Replica(node.id, node.generation, cfg.tombstone_ttl)
        self.view = View(node.id, self._member_state, self.replica, cfg.auto_deregister_timeout)
        self.hlc = HybridClock(node.id, int(cfg.hlc_max_drift * 1000))
        self._last_hb: dict[str, float] = {}
        # The owner's heartbeat judge: (next deadline, agent id), one entry per armed agent.
        self._judge: list[tuple[float, str]] = []
        self._armed: set[str] = set()
        self._requests: dict[int, float] = {}
        self._req = 0
        self.results: deque[Result] = deque()

    def _member_state(self, owner: str) -> tuple[MemberState, float] | None:
        m = self.node.members.get(owner)
        return None if m is None else (m.state, m.since)

    def _wall_ms(self, now: float) -> int:
        return int(self.node.wall(now) * 1000)

    # ------------------------------------------------------------ own writes
    def _write(self, key: str, value: Any, now: float) -> None:
        w = self.replica.write(key, value)
        self.view.apply(self.node.id, key, value, False, self.node.wall(now))
        self._gossip(w, now)

    def _delete(self, key: str, now: float) -> None:
        w = self.replica.delete(key, now)
        if w is not None:
            self.view.apply(self.node.id, key, None, True, self.node.wall(now))
            self._gossip(w, now)

    def _gossip(self, w: Write, now: float) -> None:
        self.node.gossip_write(w, now)
        self.node.beacon_after(now)

    def own_agents(self) -> list[str]:
        """Ids of the agents this node hosts, sorted."""
        n = len(AGENT)
        return sorted(k[n:] for k in self.replica.keys_of(self.node.id)
                      if k.startswith(AGENT) and self.replica.own_value(k) is not None)

    def _owns(self, agent_id: str) -> bool:
        return self.replica.own_value(AGENT + agent_id) is not None

    def register(self, record: AgentRecord, now: float) -> AgentView:
        aid = record.agent_id
        if aid in self.view.visible or self._owns(aid):
            raise AgentExistsError(f"Agent {aid} already registered")
        if not record.registered_at:
            record = dataclasses.replace(record, registered_at=self.node.wall(now))
        self._write(AGENT + aid, record, now)
        self._last_hb[aid] = now
        self._arm(aid, now)
        self._cleanup(now)
        return self.view.visible[aid]

    def _remove_own(self, agent_id: str, now: float) -> None:
        self._last_hb.pop(agent_id, None)
        for prefix in (AGENT, HB, STATUS):
            self._delete(prefix + agent_id, now)
        self._cleanup(now)

    def _heartbeat_own(self, agent_id: str, now: float) -> None:
        old: Heartbeat | None = self.replica.own_value(HB + agent_id)
        count = (old.count if old is not None else 0) + 1
        self._write(HB + agent_id, Heartbeat(count, self._wall_ms(now)), now)
        self._last_hb[agent_id] = now
        self._arm(agent_id, now)
        v = self.view.visible.get(agent_id)
        if v is not None and v.status is AgentStatus.UNHEALTHY:
            w = self.view.declared(agent_id, v.record)
            if w is not None and w.cause == "heartbeat_timeout":
                self.set_status(agent_id, AgentStatus.ACTIVE, now, "heartbeat_resumed")

    def set_status(self, agent_id: str, status: AgentStatus, now: float, cause: str) -> bool:
        if agent_id not in self.view.visible:
            return False
        stamp = self.hlc.now(self._wall_ms(now))
        self._write(STATUS + agent_id, StatusWrite(status, stamp, cause[:64]), now)
        return True

    def deregister(self, agent_id: str, now: float) -> bool | Pending:
        if self._owns(agent_id):
            self._remove_own(agent_id, now)
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
        m = self.node.members.get(v.node_id)
        if m is None or m.state not in _LIVE:
            return False
        self._req += 1
        self._requests[self._req] = now + self.node.cfg.request_timeout
        self.node.send(m.addr, Request(self._req, op, agent_id))
        return Pending(self._req)

    def serve_request(self, op: str, agent_id: str, now: float) -> tuple[bool, str]:
        if not self._owns(agent_id):
            return False, "unknown agent"
        if op == "deregister":
            self._remove_own(agent_id, now)
        else:
            self._heartbeat_own(agent_id, now)
        return True, ""

    def request_done(self, req_id: int) -> bool:
        return self._requests.pop(req_id, None) is not None

    # --------------------------------------------------------------- merging
    def _changed(self, changes: Iterable[tuple[str, str]], now: float) -> None:
        wall = self.node.wall(now)
        for owner, key in changes:
            e = self.replica.get(owner, key)
            if e is None or e.deleted:
                self.view.apply(owner, key, None, True, wall)
            else:
                if type(e.value) is StatusWrite:
                    self.hlc.observe(e.value.stamp, self._wall_ms(now))
                self.view.apply(owner, key, e.value, False, wall)
        self._cleanup(now)

    def apply_write(self, w: Write, now: float) -> bool:
        changes = self.replica.apply_write(w, now)
        self._changed(changes, now)
        return bool(changes)

    def apply_delta(self, deltas: Iterable[OwnerDelta], now: float) -> None:
        self._changed(self.replica.apply_delta(list(deltas), now), now)

    def owner_changed(self, change: MemberChange, now: float) -> None:
        if change.restarted:
            m = self.node.members.get(change.node_id)
            if m is not None:
                # The old generation's keys go all at once (holders first, then the agents are
                # re-derived), as when an owner is forgotten: applied one by one in arrival
                # order, a heartbeat that came before its record would be looked up without it.
                keys = [k for _, k in self.replica.reset_owner(change.node_id, m.generation)]
                self.view.forget_owner(change.node_id, keys, self.node.wall(now))
        self.view.owner_changed(change.node_id, now, self.node.wall(now))
        self._cleanup(now)

    def forget_owner(self, owner: str, now: float) -> None:
        keys = [k for _, k in self.replica.forget_owner(owner)]
        self.view.forget_owner(owner, keys, self.node.wall(now))
        self._cleanup(now)

    def _cleanup(self, now: float) -> None:
        gone = self.view.disappeared
        while gone:
            aid = gone.pop()
            if aid not in self.view.visible and self.replica.own_value(STATUS + aid) is not None:
                self._delete(STATUS + aid, now)

    # ---------------------------------------------------------------- judges
    def _arm(self, agent_id: str, now: float) -> None:
        """Make sure the judge looks at ``agent_id`` by its next deadline. One heap entry per
        agent: a heartbeat only moves ``_last_hb``; the entry re-arms itself when it fires."""
        cfg = self.node.cfg
        if cfg.heartbeat_timeout is None or agent_id in self._armed:
            return
        heapq.heappush(self._judge, (now + cfg.heartbeat_timeout, agent_id))
        self._armed.add(agent_id)

    def next_deadline(self) -> float | None:
        t = self.view.next_deadline()
        if self._judge:
            t = self._judge[0][0] if t is None else min(t, self._judge[0][0])
        if self._requests:
            r = min(self._requests.values())
            t = r if t is None else min(t, r)
        return t

    def tick(self, now: float) -> None:
        cfg = self.node.cfg
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
                self._remove_own(aid, now)
                continue
            if unhealthy_at <= now:
                v = self.view.visible.get(aid)
                if v is not None and v.status is not AgentStatus.UNHEALTHY:
                    self.set_status(aid, AgentStatus.UNHEALTHY, now, "heartbeat_timeout")
            heapq.heappush(self._judge, (unhealthy_at if unhealthy_at > now else expire_at, aid))
            self._armed.add(aid)
        self.view.tick(now, self.node.wall(now))
        for req_id, deadline in list(self._requests.items()):
            if deadline <= now:
                del self._requests[req_id]
                self.results.append(Result(req_id, False, "timeout"))
        self._cleanup(now)
