"""The usual registration of an agent this node hosts, shown without the general derivation
(the half of :class:`~gossipreg.core.directory.view.View` that adds our own new agents; a
mixin).

Rules: a new record of ours for an agent that is not visible, that nobody else holds or rates
and that has no standing status write (``plain``) is shown ACTIVE at once, never heartbeaten,
exactly as ``View.apply`` would show it: RUNTIME_JOINED before the first agent of its runtime,
AGENT_REGISTERED unless ``quiet`` (the host takes none: none is made, no number taken). Any
other record goes through ``View.apply``. A batch (``add_own_many``) makes the same state and
the same events, in the same order, as adding its records one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

from gossipreg.core.directory.holders import Holders
from gossipreg.core.directory.records import StatusWrite
from gossipreg.core.directory.vectors import VectorFeed
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    RegistryEvent,
    RegistryEventType,
)

__all__ = ["OwnAdds", "registered_meta"]

E = RegistryEventType
_ACTIVE = AgentStatus.ACTIVE
_new = tuple.__new__  # a named tuple without its Python-level constructor
_RUNTIME = attrgetter("runtime_id")


def registered_meta(r: AgentRecord, node_id: str, status: AgentStatus) -> dict[str, Any]:
    """The metadata of an AGENT_REGISTERED event (one shape for the view and a batch)."""
    return {"capabilities": list(r.capabilities), "name": r.name, "node_id": node_id,
            "status": status._value_}


class OwnAdds:
    """Adding our own new agents to the view (see the module rules)."""

    self_id: str
    visible: dict[str, AgentView]
    index: CapabilityIndex
    vectors: VectorFeed
    _holders: dict[str, Holders]
    _raters: dict[str, Holders]
    _standing: dict[str, dict[str, StatusWrite]]
    _event: Callable[[RegistryEventType, str | None, str | None, float, dict[str, Any]],
                     RegistryEvent]

    def _appear(self, v: AgentView, wall: float, out: list[RegistryEvent],
                quiet: bool = False) -> None: ...

    def plain(self, agent_id: str) -> bool:
        """Whether a new record of ours for ``agent_id`` may be added the usual way."""
        return not (agent_id in self._holders or agent_id in self._raters
                    or agent_id in self.visible or (self._standing and agent_id in self._standing))

    def unplain(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that are visible, held or rated here (not :meth:`plain`)."""
        held, rated, shown, standing = self._holders, self._raters, self.visible, self._standing
        return {a for a in ids if a in held or a in rated or a in shown
                or (standing and a in standing)}

    def add_own(self, record: AgentRecord, wall: float,
                quiet: bool = False) -> list[RegistryEvent] | None:
        """The usual registration: a new record of ours, ``plain``; None otherwise (the caller
        applies the change the general way). ``quiet``: no AGENT_REGISTERED event."""
        aid = record.agent_id
        if not self.plain(aid):
            return None
        self._holders[aid] = self.self_id
        out: list[RegistryEvent] = []
        self._appear(_new(AgentView, (record, self.self_id, _ACTIVE, record.registered_at, 0)),
                     wall, out, quiet)
        return out

    def add_own_many(self, records: Sequence[AgentRecord], wall: float,
                     quiet: bool) -> list[RegistryEvent]:
        """:meth:`add_own` of many records, each ``plain`` and no id twice (the caller's
        checks), in one pass; their events, in order."""
        out: list[RegistryEvent] = []
        me, make, size = self.self_id, self._event, self.index.runtime_size
        ids = [r.agent_id for r in records]
        if quiet:  # only RUNTIME_JOINED, before the first agent of each runtime
            for rt in dict.fromkeys(map(_RUNTIME, records)):
                if not size(rt):
                    out.append(make(E.RUNTIME_JOINED, None, rt, wall, {"node_id": me}))
        else:
            seen: set[str] = set()  # runtimes met in this batch (a second agent joins none)
            for r in records:
                aid, rt = r.agent_id, r.runtime_id
                if rt not in seen:
                    seen.add(rt)
                    if not size(rt):
                        out.append(make(E.RUNTIME_JOINED, None, rt, wall, {"node_id": me}))
                out.append(make(E.AGENT_REGISTERED, aid, rt, wall,
                                registered_meta(r, me, _ACTIVE)))
        self._holders.update(dict.fromkeys(ids, me))
        visible = self.visible
        visible.update(zip(ids, [_new(AgentView, (r, me, _ACTIVE, r.registered_at, 0))
                                 for r in records], strict=True))
        self.index.put_new(records, ids, me)
        if self.vectors.active:
            for r in records:
                self.vectors.shown(visible[r.agent_id])
        return out
