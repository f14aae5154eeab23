"""Registering the agents this node hosts: one at a time, or a batch in one pass (the half of
:class:`~gossipreg.core.directory.directory.Directory` that registers; a mixin).

Rules: an id visible here, or held by one of our own live records, is refused
(``AgentExistsError``); a record without ``registered_at`` is stamped with the wall time of
``now``. The record is written under ``agent/<id>`` (gossiped to peers when there are any); the
usual registration is shown at once (:mod:`~gossipreg.core.directory.own_adds`), anything else
is applied as a change. A batch (``register_many``) refuses and registers exactly what
registering its records one by one, in order, would; an embedded node (no seeds, no peer, no
signatures, no restarted owner held) does it in one pass: one replica call, one view call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gossipreg.core.directory.holds import Holds
from gossipreg.core.directory.liveness import HeartbeatJudge
from gossipreg.core.directory.records import AGENT
from gossipreg.core.directory.view import View
from gossipreg.core.errors import AgentExistsError, InvalidArgumentError
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.replica.store import Change, Replica
from gossipreg.core.types import AgentRecord, AgentView, RegistryEvent

__all__ = ["Registering"]


class Registering:
    """Registering our agents (see the module rules)."""

    view: View
    replica: Replica
    members: MemberTable
    liveness: HeartbeatJudge
    alone: bool
    wall: Callable[[float], float]
    _holds: Holds
    _replaced: bool
    _queue: Callable[[list[RegistryEvent]], None]  # the node's EventQueue.extend
    commit: Callable[[float], None]
    _write: Callable[[str, Any, float], Change]
    _apply: Callable[[list[Change], float], None]

    def register(self, record: AgentRecord, now: float, quiet: bool = False) -> AgentView:
        """Register an agent hosted here (``quiet``: no AGENT_REGISTERED event): its view."""
        aid, key = record.agent_id, AGENT + record.agent_id
        self.commit(now)
        if aid in self.view.visible or self.replica.own_value(key) is not None:
            raise AgentExistsError(f"Agent {aid} already registered")
        if not record.registered_at:
            record = record._replace(registered_at=self.wall(now))
        change = self._write(key, record, now)
        events = None if self._holds or self._replaced else self.view.add_own(
            record, self.wall(now), quiet)
        if events is None:
            self._apply([change], now)
        elif events:
            self._queue(events)  # an appearance: nothing for _react to delete
        self.liveness.heard(aid, now)
        return self.view.visible[aid]

    def register_many(self, records: Mapping[str, AgentRecord], now: float,
                      quiet: bool = False) -> list[tuple[int, Exception]]:
        """:meth:`register` of each record (by agent id, in order: no id twice) as one batch:
        the refused ones by position, with why (``AgentExistsError``;
        ``InvalidArgumentError`` for a record under another id; anything a record raised)."""
        refused: list[tuple[int, Exception]] = []
        self.commit(now)
        if (not self.alone or len(self.members) > 1 or self._holds or self._replaced
                or self.replica.sign is not None):
            for i, (aid, r) in enumerate(records.items()):  # told or signed: one by one
                try:
                    if r.agent_id != aid:
                        raise InvalidArgumentError(f"record of {r.agent_id} under {aid}")
                    self.register(r, now, quiet)
                except Exception as e:  # one refusal must not drop the others
                    refused.append((i, e))
            return refused
        wall = self.wall(now)
        visible, own = self.view.visible, self.replica.own_entries()
        odd = self.view.unplain(records)  # (usually none: one look for the batch)
        run: list[AgentRecord] = []  # the batch so far, shown the usual way
        keys: list[str] = []  # their keys
        for i, (aid, r) in enumerate(records.items()):
            key = AGENT + aid
            if r.agent_id != aid:
                refused.append((i, InvalidArgumentError(f"record of {r.agent_id} under {aid}")))
                continue
            if aid in visible or ((held := own.get(key)) is not None and not held.deleted):
                refused.append((i, AgentExistsError(f"Agent {aid} already registered")))
                continue
            if not r.registered_at:
                r = r._replace(registered_at=wall)
            if not (odd and aid in odd):
                run.append(r)
                keys.append(key)
                continue
            self._register_run(keys, run, now, wall, quiet)  # (rare: another's record held)
            run, keys = [], []
            try:
                self.register(r, now, quiet)
            except Exception as e:  # (checked above: not expected; never drops the others)
                refused.append((i, e))
        self._register_run(keys, run, now, wall, quiet)
        return refused

    def _register_run(self, keys: list[str], run: list[AgentRecord], now: float,
                      wall: float, quiet: bool) -> None:
        if not run:
            return
        self.replica.put_quiet(keys, run)
        events = self.view.add_own_many(run, wall, quiet)
        if events:
            self._queue(events)
        if self.liveness.cfg.heartbeat_timeout is not None:
            self.liveness.heard_many([r.agent_id for r in run], now)
