"""The simulator's convergence checks, each computed on its own.

Rules: three questions, answered separately over every live node of the run (both workers'):

- ``replicas_equal``: every live node holds the same live replica state (owner, generation,
  key, version, value);
- ``member_tables_agree``: every live node sees exactly the live nodes running, all ALIVE;
- ``registrations_visible``: every agent registered by a live owner (its record held by that
  owner) is visible on every live node.

A worker summarises its own nodes (``summarise``); ``combine`` answers from every worker's
summary. Cheapest comparisons first; a check that already failed locally skips its payload.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from gossipreg.core.types import MemberState
from sim.cluster import Cluster

__all__ = ["Checks", "Summary", "collector_off", "combine", "summarise"]

_RUNNING = (MemberState.ALIVE, MemberState.SUSPECT)


@contextmanager
def collector_off() -> Iterator[None]:
    """No cyclic garbage collection, for phases that build many live objects and no cycles
    (the setup, the checks): the collector's passes would find nothing and cost much."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Checks(NamedTuple):
    replicas_equal: bool
    member_tables_agree: bool
    registrations_visible: bool

    @property
    def all(self) -> bool:
        return self.replicas_equal and self.member_tables_agree and self.registrations_visible


class Summary(NamedTuple):
    """One worker's nodes, as much as the other worker needs to finish the checks."""

    empty: bool
    versions: Any  # one local node's replica versions, or None if the local nodes differ
    members_ok: bool  # every local live node sees exactly the run's live nodes, all ALIVE
    registered: frozenset[str]  # agents held by this worker's live owners
    seen_by_all: frozenset[str] | None  # agents visible on every local live node


def summarise(c: Cluster) -> Summary:
    local = c.local_live()
    if not local:
        return Summary(True, None, True, frozenset(), None)
    with collector_off():
        live = set(c.live())
        members_ok = True
        for n in local:
            table = {m.node_id: m.state for m in c.node(n).read.members()
                     if m.state in _RUNNING}
            if table.keys() != live or any(s is not MemberState.ALIVE for s in table.values()):
                members_ok = False
                break
        # One state at a time: at 1,000 nodes x 10,000 agents, holding them all costs GBs.
        first = c.node(local[0]).read.replica_state()
        same = all(c.node(n).read.replica_state() == first for n in local[1:])
        registered: set[str] = set()
        seen: set[str] | None = None
        for n in local:
            read = c.node(n).read
            registered.update(read.own_agents())
            keys = read.visible.keys()
            seen = set(keys) if seen is None else seen & keys
        # Across workers, keys and versions are enough (an owner writes each version once).
        versions = {o: (g, {k: v for k, (v, _) in entries.items()})
                    for o, (g, entries) in first.items()}
        return Summary(False, versions if same else None, members_ok, frozenset(registered),
                       None if seen is None else frozenset(seen))


def combine(parts: Sequence[Summary]) -> Checks:
    parts = [p for p in parts if not p.empty]
    if not parts:
        return Checks(True, True, True)
    replicas = all(p.versions is not None for p in parts) and all(
        p.versions == parts[0].versions for p in parts[1:])
    members = all(p.members_ok for p in parts)
    registered = frozenset().union(*(p.registered for p in parts))
    visible = all(p.seen_by_all is not None and registered <= p.seen_by_all for p in parts)
    return Checks(replicas, members, visible)
