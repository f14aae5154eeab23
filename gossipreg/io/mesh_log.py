"""What happens to the mesh, one line each, for operators (Serf's and Consul's member logs).

Rules:
- a member joined, was suspected, failed, left, refuted a suspicion or recovered: one line at
  ``info`` on the ``gossipreg.mesh`` logger, naming the member and its address (and who
  suspected it); the node's own join says how many members and agents it found;
- agent events (registered, deregistered, status changed) at ``debug``; heartbeats never;
- at most ``burst`` lines at once and ``rate`` a second after that: what is held back is
  counted and said in one line when lines flow again (a thousand flapping members cannot flood
  a log);
- :func:`describe` is the words of one event, from its JSON form too, so that ``gossipreg
  monitor`` prints the lines a node logs; the library installs no handler (the CLI does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from gossipreg.core.reader import NodeStats
from gossipreg.core.types import MemberState, RegistryEvent, RegistryEventType

__all__ = ["MeshLog", "describe", "level_of"]

log = logging.getLogger("gossipreg.mesh")
E = RegistryEventType
# Tuples of the kinds for `takes` (asked per registration: `in` finds the first by identity),
# sets of their values for the lines.
_MEMBER_KINDS = (E.MEMBER_JOINED, E.MEMBER_SUSPECT, E.MEMBER_ALIVE, E.MEMBER_FAILED,
                 E.MEMBER_LEFT)
_AGENT_KINDS = (E.AGENT_REGISTERED, E.AGENT_DEREGISTERED, E.AGENT_STATUS_CHANGED,
                E.RUNTIME_JOINED, E.RUNTIME_LEFT)
_MEMBER = {k.value for k in _MEMBER_KINDS}
_AGENT = {k.value for k in _AGENT_KINDS}


def level_of(kind: str) -> int | None:
    """The level an event of type ``kind`` is logged at (None: not logged)."""
    if kind in _MEMBER:
        return logging.INFO
    if kind in _AGENT:
        return logging.DEBUG
    return None


def describe(kind: str, agent_id: str | None, runtime_id: str | None,
             meta: Mapping[str, Any], before: str | None = None) -> str:
    """One event in words. ``before``: the type of the member's previous event (a member
    alive again after ``member_suspect`` refuted it, after ``member_failed`` recovered)."""
    who = f"{meta.get('node_id')} at {meta.get('address')}"
    by = f" by {meta['source']}" if meta.get("source") else ""
    if kind == E.MEMBER_JOINED.value:
        return f"member joined: {who}"
    if kind == E.MEMBER_SUSPECT.value:
        return f"member suspect: {who} (suspected{by or ' by us'})"
    if kind == E.MEMBER_FAILED.value:
        return f"member failed: {who} (declared dead{by})"
    if kind == E.MEMBER_LEFT.value:
        return f"member left: {who}"
    if kind == E.MEMBER_ALIVE.value:
        verb = {E.MEMBER_SUSPECT.value: "refuted a suspicion",
                E.MEMBER_FAILED.value: "recovered"}.get(before or "", "alive again")
        return f"member {verb}: {who}"
    if kind == E.AGENT_REGISTERED.value:
        return f"agent registered: {agent_id} of {runtime_id} on {meta.get('node_id')}"
    if kind == E.AGENT_DEREGISTERED.value:
        return f"agent deregistered: {agent_id} of {runtime_id} ({meta.get('cause', '?')})"
    if kind == E.AGENT_STATUS_CHANGED.value:
        return (f"agent {agent_id}: {meta.get('old_status')} -> {meta.get('new_status')} "
                f"({meta.get('cause', '?')})")
    if kind == E.RUNTIME_JOINED.value:
        return f"runtime joined: {runtime_id} on {meta.get('node_id')}"
    if kind == E.RUNTIME_LEFT.value:
        return f"runtime left: {runtime_id}"
    return kind


class MeshLog:
    """The operator lines of one node (or of a monitored stream), rate-limited."""

    def __init__(self, emit: Callable[[int, str], None] | None = None, *,
                 rate: float | None = 10.0, burst: int = 50,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``emit(level, text)`` (default: the ``gossipreg.mesh`` logger); ``rate`` lines a
        second after ``burst`` (None: no limit)."""
        self._emit = emit or (lambda level, text: log.log(level, "%s", text))
        self._to_log = emit is None
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._held = 0
        self._last: dict[str, str] = {}  # member -> type of its last member event
        self._joined = False

    def joined(self, joined: bool, stats: Callable[[], NodeStats]) -> None:
        """Say once, when the node's join was answered, what it found."""
        if joined and not self._joined:
            self._joined = True
            st = stats()
            self.say(logging.INFO, f"joined the mesh: {st.member_counts[MemberState.ALIVE]} "
                                   f"members alive, {st.agents} agents")

    def takes(self, kind: RegistryEventType) -> bool:
        """Whether an event of ``kind`` would make a line (agent events: at DEBUG only)."""
        if kind not in _AGENT_KINDS:
            return kind in _MEMBER_KINDS
        return not self._to_log or log.isEnabledFor(logging.DEBUG)

    def event(self, ev: RegistryEvent) -> None:
        """Log one of the node's events (if it is one operators read)."""
        kind = ev.event_type.value
        if kind in _AGENT and self._to_log and not log.isEnabledFor(logging.DEBUG):
            return  # the usual case, cheaply: agent events are debug lines
        self.line(kind, ev.agent_id, ev.runtime_id, ev.metadata)

    def line(self, kind: str, agent_id: str | None, runtime_id: str | None,
             meta: Mapping[str, Any]) -> None:
        level = level_of(kind)
        if level is None:
            return
        before = None
        if kind in _MEMBER:
            node = str(meta.get("node_id"))
            before = self._last.get(node)
            if len(self._last) > 65536:
                self._last.clear()
            self._last[node] = kind
        if self._to_log and not log.isEnabledFor(level):
            return  # nothing to format, no rate spent
        self.say(level, describe(kind, agent_id, runtime_id, meta, before))

    def say(self, level: int, text: str) -> None:
        """One line, unless the rate is spent (then it is counted, and said later)."""
        if self.rate is None:
            self._emit(level, text)
            return
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            self._held += 1
            return
        if self._held:
            self._tokens -= 1
            self._emit(logging.WARNING, f"{self._held} mesh log lines held back (at most "
                                        f"{self.rate:g} a second)")
            self._held = 0
            if self._tokens < 1:
                self._held = 1
                return
        self._tokens -= 1
        self._emit(level, text)
