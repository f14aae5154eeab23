"""A node that remembers its agents: with a data directory, the agents it owns (their records,
checks and declared statuses) are kept in ``agents.json`` and registered again when it starts.

Rules:
- The file is ``{"format": 1, "cluster": ..., "node": ..., "agents": [{"record": {...},
  "check": {...} | null, "status": [status, reason] | null}, ...]}``, written through
  :mod:`gossipreg.io.datadir` (atomic, fsynced).
- It is written after every change of an owned agent (registered, deregistered, a declared
  status, a check added or gone), batched: the changes of ``BATCH_DELAY`` make one write, done
  in a worker thread, one write at a time; shutdown writes the last state. Heartbeats are not
  kept: a restored agent starts with a fresh heartbeat deadline (its runtime may have died with
  the node: it must heartbeat again, or be judged as usual).
- It is read once, at start, before the node binds: every entry is validated before any is
  used; a file of another cluster or node, of another format, or with an entry that does not
  validate refuses the start (:class:`~gossipreg.io.datadir.DataDirError` naming the file):
  never a partial load.
- Restored agents are registered under the node's new generation with their first
  registration time, before it joins and before its seeds are known, so that no write of
  them is gossiped on its own: they reach each peer in one piece, in the state exchange of
  the join (the seed) or of the peer's own exchange with the restarted member (the others;
  core/directory/holds.py). A peer replaces the previous generation's whole state at the
  first write of the new one, so single writes arriving one by one (as datagrams may) would
  deregister the agents not yet arrived and register them again; in one piece, an agent that
  comes back is neither.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.node import Node
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    Cause,
    RegistryEvent,
    RegistryEventType,
    status_of,
)
from gossipreg.io.checks import Check, CheckRunner, parse_check
from gossipreg.io.datadir import DataDir, DataDirError

__all__ = ["AGENTS_FILE", "BATCH_DELAY", "FILE_FORMAT", "AgentStore", "Saved", "record_json"]

log = logging.getLogger("gossipreg.io.persist")

AGENTS_FILE = "agents.json"
FILE_FORMAT = 1
BATCH_DELAY = 0.05  # s: the changes within it make one write
_E = RegistryEventType
_TOUCHING = frozenset({_E.AGENT_REGISTERED, _E.AGENT_DEREGISTERED, _E.AGENT_STATUS_CHANGED})


class StoredNode(Protocol):
    """What the store needs of the node it keeps (a runner)."""

    name: str
    config: NodeConfig
    checks: CheckRunner

    @property
    def core(self) -> Node: ...
    def get(self, agent_id: str) -> AgentView | None: ...


@dataclass(frozen=True, slots=True)
class Saved:
    """One kept agent: its record, its check, the status its owner declared (and why)."""

    record: AgentRecord
    check: Check | None = None
    status: tuple[AgentStatus, str] | None = None


def record_json(r: AgentRecord) -> dict[str, Any]:
    """The fields :func:`~gossipreg.core.directory.records.make_record` rebuilds ``r`` from."""
    return {"agent_id": r.agent_id, "name": r.name, "runtime_id": r.runtime_id,
            "capabilities": list(r.capabilities), "description": r.description,
            "tags": list(r.tags), "card": r.card_json, "max_concurrency": r.max_concurrency,
            "memory_limit_mb": r.memory_limit_mb, "budget_limit_usd": r.budget_limit_usd,
            "registered_at": r.registered_at}


_FIELDS = frozenset(record_json(make_record("x", "x", "x", [])))


def _entry(raw: object) -> Saved:
    if not isinstance(raw, dict) or not isinstance(raw.get("record"), dict):
        raise InvalidArgumentError("an entry must be an object with a record")
    rec = raw["record"]
    unknown = set(rec) - _FIELDS
    if unknown or "agent_id" not in rec:
        raise InvalidArgumentError(f"record fields {sorted(unknown) or ['agent_id missing']}")
    fields = {k: v for k, v in rec.items() if k not in ("agent_id", "name", "runtime_id",
                                                       "capabilities")}
    record = make_record(rec["agent_id"], rec.get("name"), rec.get("runtime_id", ""),
                         rec.get("capabilities"), **fields)
    check = None if raw.get("check") is None else parse_check(raw["check"])
    status = raw.get("status")
    declared = None
    if status is not None:
        if not (isinstance(status, list) and len(status) == 2 and isinstance(status[1], str)):
            raise InvalidArgumentError("status must be [status, reason]")
        declared = (status_of(status[0]), status[1])
    return Saved(record, check, declared)


class AgentStore:
    """``agents.json`` of one node (see the module rules)."""

    def __init__(self, node: StoredNode, directory: DataDir) -> None:
        self.node = node
        self.dir = directory
        self.path = directory.path_of(AGENTS_FILE)
        self._declared: dict[str, tuple[AgentStatus, str]] = {}
        self._dirty = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # files written (tests, metrics)

    @classmethod
    def open(cls, node: StoredNode) -> tuple[AgentStore, list[Saved]]:
        """The store of ``node``'s data directory and the agents kept there (validated:
        raises DataDirError naming the file). Blocking, at start."""
        assert node.config.data_dir is not None
        store = cls(node, DataDir.open(node.config))
        return store, store.load()

    def load(self) -> list[Saved]:
        data = self.dir.read_json(AGENTS_FILE)
        if data is None:
            return []
        cfg, where = self.node.config, self.path
        if data.get("format") != FILE_FORMAT:
            raise DataDirError(f"{where}: format {data.get('format')!r} is not one this version "
                               f"reads ({FILE_FORMAT}); nothing of it was loaded")
        if data.get("cluster") != cfg.cluster or data.get("node") != self.node.name:
            raise DataDirError(
                f"{where}: it holds the agents of node {data.get('node')!r} of cluster "
                f"{data.get('cluster')!r}, not of {self.node.name!r} of {cfg.cluster!r}: start "
                f"that node with it, or give this one another --data-dir")
        agents = data.get("agents")
        if not isinstance(agents, list):
            raise DataDirError(f"{where}: agents must be a list; nothing of it was loaded")
        out: list[Saved] = []
        for i, raw in enumerate(agents):
            try:
                out.append(_entry(raw))
            except (InvalidArgumentError, TypeError) as e:
                raise DataDirError(f"{where}: agent #{i + 1} is not valid ({e}); nothing of "
                                   f"it was loaded: repair or remove the file") from None
        ids = [s.record.agent_id for s in out]
        if len(set(ids)) != len(ids):
            raise DataDirError(f"{where}: an agent id appears twice; nothing of it was loaded")
        return out

    def restore(self, saved: list[Saved], now: float) -> None:
        """Register the kept agents on the node's new core, before it joins (their checks
        start once the loop runs: :meth:`start_checks`)."""
        core = self.node.core
        for s in saved:
            core.register(s.record, now, wall=time.time())
            if s.status is not None:
                core.set_status(s.record.agent_id, s.status[0], now, s.status[1],
                                wall=time.time())
                self._declared[s.record.agent_id] = s.status
        if saved:
            log.info("node %s restored %d agents from %s", self.node.name, len(saved),
                     self.path)

    def start_checks(self, saved: list[Saved]) -> None:
        for s in saved:
            if s.check is not None:
                self.node.checks.add(s.record.agent_id, s.check)

    # ----------------------------------------------------------------- writing
    def on_event(self, ev: RegistryEvent) -> None:
        """A listener of the node's events: a change of an owned agent schedules a write."""
        if ev.event_type not in _TOUCHING or ev.agent_id is None:
            return
        aid, meta = ev.agent_id, ev.metadata
        if ev.event_type is _E.AGENT_STATUS_CHANGED:
            v = self.node.get(aid)
            if v is None or v.node_id != self.node.name:
                return
            if meta.get("cause") == Cause.STATUS_WRITE.value:  # a declaration, not a verdict
                st = status_of(meta.get("new_status"))
                if st is AgentStatus.ACTIVE:
                    self._declared.pop(aid, None)
                else:
                    self._declared[aid] = (st, str(meta.get("reason", "manual")))
        elif meta.get("node_id") != self.node.name:
            return
        elif ev.event_type is _E.AGENT_DEREGISTERED:
            self._declared.pop(aid, None)
        self.changed()

    def changed(self) -> None:
        """Something kept changed: write it soon (batched)."""
        self._dirty = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    def snapshot(self) -> bytes:
        """The file's content for the node's current own agents."""
        specs = self.node.checks.specs
        agents = []
        for r in self.node.core.read.own_records():
            check = specs.get(r.agent_id)
            st = self._declared.get(r.agent_id)
            agents.append({"record": record_json(r),
                           "check": None if check is None else check.as_json(),
                           "status": None if st is None else [st[0].value, st[1]]})
        doc = {"format": FILE_FORMAT, "cluster": self.node.config.cluster,
               "node": self.node.name, "agents": agents}
        return json.dumps(doc, indent=1, ensure_ascii=False).encode() + b"\n"

    async def _writer(self) -> None:
        try:
            while self._dirty:
                await asyncio.sleep(BATCH_DELAY)
                self._dirty = False
                await self._write()
        finally:
            self._task = None

    async def _write(self) -> None:
        data = self.snapshot()  # on the loop: a consistent view
        try:
            await asyncio.to_thread(self.dir.write, AGENTS_FILE, data)
            self.writes += 1
        except OSError as e:
            log.error("cannot write %s: %s (the agents registered since may not survive a "
                      "restart)", self.path, e.strerror or e)
            if not self._closing:  # tried again in a second
                self._dirty = True
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Write the last state (at shutdown; the writes under way finish first)."""
        self._closing = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._dirty:
            self._dirty = False
            await self._write()
