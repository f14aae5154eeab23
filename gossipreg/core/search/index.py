"""Capability index with kaizen's query semantics, answered in sub-linear time.

Rules (kaizen's ``find_agents_by_capability`` semantics): an agent matches when the lower-cased
query is a substring of one of its lower-cased capability strings; ``status`` filters (None =
any); results are ranked by word overlap — how many of the query's whitespace-separated words
occur among the words of the agent's capabilities — highest first, ties by registration time,
then id (so every node returns the same order). Several terms are ANDed (each may match a
different capability) and their overlaps add up.

Speed: many agents share capability strings, so the *distinct* lower-cased strings are indexed
(:class:`~gossipreg.core.search.strings.StringTable`: 3-gram postings), each with the agents
holding it. A query finds the strings containing its most selective term, then expands to their
agents. A status other than ACTIVE is answered from that status's own set when it is the
smaller side (statuses other than ACTIVE are rare: their sets are small), so a query costs what
its hits cost, not what its candidates do. Agents are kept in ranking-tie order (registration
time, then id), each with its position (``seq``): hits come out in that order without sorting,
or sorted by plain int keys (score, position) when the scores differ. An insertion out of that
order (a record from another node registered earlier) is put in place at the next query.

Deferred work: a write does not pay for what only a query needs. A put records the agent's
filters at once (status, runtime, tags, node: counts and events depend on them) but its strings
(lower-casing, 3-grams) at the next query, each changed agent once. What waits is a set of the
agents changed since the last query, each once (a removed agent leaves it), so it never needs
cutting back; until the first query there is no set at all: the first query takes every agent
(a node nobody queries keeps nothing per agent for it). The positions' list keeps a hole per
removal, closed every ~2n writes (amortized O(1)). (Lists of ids cut back every ~2n writes
made one write in 2n pay three O(n) passes: at 100,000 agents the worst write took 123-146
ms, 28-38 ms with the positions' pass alone.)

Free text: every put with its record also feeds the lexical ranker, taken the same way at the
next search: a set of its own, which also names the agents it must forget
(:mod:`~gossipreg.core.search.textsearch`, the mixin that ranks text under the same filters).

A2A skill ids are capability strings of the index too (beside the record's capabilities: its
skills' names, descriptions and tags), so a capability query finds an agent by a skill's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from itertools import islice
from operator import attrgetter, lt
from typing import TYPE_CHECKING

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.query import Query
from gossipreg.core.search.rank import LexicalRanker
from gossipreg.core.search.strings import StringTable, lower
from gossipreg.core.search.textsearch import TextSearch
from gossipreg.core.types import AgentRecord, AgentStatus

if TYPE_CHECKING:
    from gossipreg.core.search.vecindex import VectorIndex

__all__ = ["CapabilityIndex", "score_words"]

_ACTIVE = AgentStatus.ACTIVE
_NO_TAGS: frozenset[str] = frozenset()
_SHIFT = 40  # hit keys: (best score - score) << _SHIFT | seq
_CAPABILITIES, _RUNTIME = attrgetter("capabilities"), attrgetter("runtime_id")
_SLACK = 1024  # holes the positions' list may hold beyond the agents (see _compact)


def score_words(text: str) -> tuple[str, ...]:
    """The distinct words counted by the overlap ranking, in order."""
    return tuple(dict.fromkeys(text.lower().split()))


def _strings_of(r: AgentRecord) -> Sequence[str]:
    """The capability strings held for a record: its capabilities, then its skills' ids."""
    return (*r.capabilities, *(k.id for k in r.skills)) if r.skills else r.capabilities


class _Agent:
    """An indexed agent: its record (capabilities, runtime, registration time and tags are
    read from it, never copied), node, status and position in tie order."""

    __slots__ = ("node", "ranked", "record", "seq", "status", "taken")

    def __init__(self, record: AgentRecord, status: AgentStatus, node: str, seq: int,
                 ranked: bool) -> None:
        self.record = record
        self.status = status
        self.node = node
        self.seq = seq
        self.ranked = ranked  # the lexical ranker indexes its record
        self.taken = False  # its strings are in the table (done at the next query)

    @property
    def tags(self) -> frozenset[str]:
        tags = self.record.tags
        return frozenset(t.lower() for t in tags) if tags else _NO_TAGS


class CapabilityIndex(TextSearch):
    """Agents by capability substring, status, runtime, tags and node; free text by
    :meth:`~gossipreg.core.search.textsearch.TextSearch.search`."""

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}  # in (registered_at, id) order while _ordered
        self._order: list[str | None] = []  # agent id by seq (None: removed)
        self._ordered = True
        self._last: tuple[float, str] = (float("-inf"), "")
        self._strings = StringTable()
        # Agents whose strings are not taken yet (see the module rules); None: every agent
        # not taken, found by a scan (before the first query).
        self._pending: dict[str, None] | None = None
        self._status_count: dict[AgentStatus, int] = dict.fromkeys(AgentStatus, 0)
        # The agents of each status but ACTIVE (an ACTIVE set would cost ~100 bytes per agent).
        self._by_status: dict[AgentStatus, set[str]] = {
            s: set() for s in AgentStatus if s is not _ACTIVE}
        self._runtime_count: dict[str, int] = {}
        self._bare: set[str] = set()  # agents without a capability (found by no query)
        self.ranker = LexicalRanker()
        self.vectors: VectorIndex | None = None  # set by whoever knows the node's model
        # Agents whose record the ranker has not taken yet (removed ones: it forgets them);
        # None: every agent with its record, found by a scan (the ranker holds nothing yet).
        self._rank_pending: dict[str, None] | None = None
        self._compact_at = _SLACK  # the positions' list is compacted past this length

    # ------------------------------------------------------------------ writes
    def upsert(self, agent_id: str, capabilities: Sequence[str], *, status: AgentStatus,
               runtime_id: str, registered_at: float, tags: Sequence[str] = (),
               node_id: str = "") -> None:
        """Add an agent, or replace everything known about it. Ties in ranking are broken by
        ``(registered_at, agent_id)``."""
        if isinstance(capabilities, str):
            raise InvalidArgumentError("capabilities must be a sequence of strings")
        for c in capabilities:
            if not isinstance(c, str):
                raise InvalidArgumentError(
                    f"capability must be a string, not {type(c).__name__}")
        self.put(agent_id, capabilities, status, runtime_id, registered_at, tags, node_id)

    def put(self, agent_id: str, capabilities: Sequence[str], status: AgentStatus,
            runtime_id: str, registered_at: float, tags: Sequence[str], node_id: str,
            record: AgentRecord | None = None) -> None:
        """:meth:`upsert` for values known to be well-typed (a validated record's): no checks.
        With ``record``, the ranker indexes its text too."""
        if agent_id in self._agents:
            self.remove(agent_id)
        key = (registered_at, agent_id)
        if key < self._last:
            self._ordered = False
        else:
            self._last = key
        seq = len(self._order)
        self._order.append(agent_id)
        if record is None:  # a caller without records (upsert): one to read the fields from
            self._agents[agent_id] = _Agent(
                AgentRecord(agent_id, "", runtime_id, tuple(capabilities), tags=tuple(tags),
                            registered_at=registered_at), status, node_id, seq, False)
        else:
            self._agents[agent_id] = _Agent(record, status, node_id, seq, True)
            if self._rank_pending is not None:
                self._rank_pending[agent_id] = None
        if self._pending is not None:
            self._pending[agent_id] = None
        if not capabilities and (record is None or not record.skills):
            self._bare.add(agent_id)
        self._status_count[status] += 1
        if status is not _ACTIVE:
            self._by_status[status].add(agent_id)
        self._runtime_count[runtime_id] = self._runtime_count.get(runtime_id, 0) + 1
        if len(self._order) > self._compact_at:
            self._compact()

    def put_new(self, records: Sequence[AgentRecord], ids: Sequence[str], node_id: str) -> None:
        """:meth:`put` of many ACTIVE agents of ``node_id`` (``ids``: their ids) in one call,
        none of them indexed yet (the caller's guarantee: a batch of new registrations), in
        order. (Whole-list steps: the per-agent work is the entry and its place.)"""
        agents, order, start = self._agents, self._order, len(self._order)
        agents.update(zip(ids, [_Agent(r, _ACTIVE, node_id, seq, True)
                                for seq, r in enumerate(records, start)], strict=True))
        ats = [r.registered_at for r in records]
        last_at, last_id = self._last
        if ats and ats[0] > last_at and all(map(lt, ats, islice(ats, 1, None))):
            self._last = (ats[-1], ids[-1])  # registered one after the other: in tie order
        else:
            for at, aid in zip(ats, ids, strict=True):  # (registered_at, id) against the last
                if at > last_at or (at == last_at and aid >= last_id):
                    last_at, last_id = at, aid
                else:
                    self._ordered = False
            self._last = (last_at, last_id)
        if not all(map(_CAPABILITIES, records)):
            self._bare.update(a for r, a in zip(records, ids, strict=True) if not _strings_of(r))
        runtimes = self._runtime_count
        for rt, n in Counter(map(_RUNTIME, records)).items():
            runtimes[rt] = runtimes.get(rt, 0) + n
        order += ids
        if self._pending is not None:
            self._pending.update(dict.fromkeys(ids))
        if self._rank_pending is not None:
            self._rank_pending.update(dict.fromkeys(ids))
        self._status_count[_ACTIVE] += len(ids)

    def set_status(self, agent_id: str, status: AgentStatus) -> None:
        """Change an agent's status; raises KeyError for an unknown agent."""
        a = self._agents[agent_id]
        old = a.status
        self._status_count[old] -= 1
        if old is not _ACTIVE:
            self._by_status[old].discard(agent_id)
        a.status = status
        self._status_count[status] += 1
        if status is not _ACTIVE:
            self._by_status[status].add(agent_id)

    def remove(self, agent_id: str) -> bool:
        a = self._agents.pop(agent_id, None)
        if a is None:
            return False
        rank_pending = self._rank_pending
        if a.ranked and rank_pending is not None:
            if agent_id in self.ranker:
                rank_pending[agent_id] = None  # the ranker forgets it at the next search
            else:
                rank_pending.pop(agent_id, None)  # never taken: nothing to forget
        self._order[a.seq] = None
        self._bare.discard(agent_id)
        self._status_count[a.status] -= 1
        if a.status is not _ACTIVE:
            self._by_status[a.status].discard(agent_id)
        runtime = a.record.runtime_id
        left = self._runtime_count[runtime] - 1
        if left:
            self._runtime_count[runtime] = left
        else:
            del self._runtime_count[runtime]
        if a.taken:
            self._strings.release(_strings_of(a.record), agent_id)
        elif self._pending is not None:
            self._pending.pop(agent_id, None)
        return True

    # ----------------------------------------------------------- deferred work
    def _compact(self) -> None:
        """Close the positions' holes (O(n) every ~2n writes: amortized O(1) a write)."""
        agents = self._agents
        live = [aid for aid in self._order if aid is not None]  # in the same order
        for seq, aid in enumerate(live):
            agents[aid].seq = seq
        self._order = [*live]  # (no spare room)
        self._compact_at = 2 * len(agents) + _SLACK

    def _settle(self) -> None:
        """Take the pending strings, and put the agents back in tie order if needed."""
        pending = self._pending
        if pending is None or pending:
            self._pending = {}
            agents, take = self._agents, self._strings.take
            for aid in agents if pending is None else pending:
                a = agents.get(aid)
                if a is not None and not a.taken:  # (a scan meets agents taken already)
                    take(_strings_of(a.record), aid)
                    a.taken = True
        table = self._strings
        if table.dead_slots > max(1024, len(table)):
            table.renumber()
        if not self._ordered or len(self._order) > 2 * len(self._agents) + _SLACK:
            items = sorted(self._agents.items(),
                           key=lambda kv: (kv[1].record.registered_at, kv[0]))
            self._agents = dict(items)
            self._order = [aid for aid, _ in items]
            for seq, (_, a) in enumerate(items):
                a.seq = seq
            self._ordered = True
            self._last = (items[-1][1].record.registered_at, items[-1][0]) if items else (
                float("-inf"), "")

    # ----------------------------------------------------------------- queries
    def find(self, q: Query) -> list[str]:
        """Ids of the agents matching ``q`` (all its capability terms), best first."""
        self._settle()
        lowered = [t.lower() for t in q.capability]
        real = [t for t in dict.fromkeys(lowered) if t]
        status, runtime_id, node_id = q.status, q.runtime_id, q.node_id
        wanted_tags = frozenset(t.lower() for t in q.tags)
        agents, table = self._agents, self._strings
        end = None if q.limit is None else q.offset + q.limit
        if (not real and runtime_id is None and node_id is None and not wanted_tags
                and (status is None or status is _ACTIVE)):
            # Every agent that declares a capability, score 0: in order, no agent looked at.
            skip = set(self._bare)
            if status is not None:
                for ids in self._by_status.values():
                    skip |= ids
            every = [aid for aid in agents if aid not in skip] if skip else list(agents)
            return every[q.offset:end] if q.offset or end is not None else every
        texts = table.texts
        # Where the candidates come from: every agent in order, one status's set, or the
        # agents of the strings that contain the most selective term.
        cand: Collection[str] = agents.keys()
        in_order = True  # cand is every agent, in tie order
        driver: list[int] | None = None
        if real:
            per_term = [table.matching(t) for t in real]
            driver = min(per_term, key=table.count)
        by_status = self._by_status.get(status) if status is not None else None
        if by_status is not None and (driver is None or len(by_status) < table.count(driver)):
            cand, driver, in_order = by_status, None, False
            verify = real
        else:
            verify = real if len(real) > 1 else []
        if driver is not None:
            if len(driver) == 1:  # one string: its holders as they are (no copy)
                cand = table.agents(driver[0])
            else:
                seen: set[str] = set()
                for sid in driver:
                    seen.update(table.agents(sid))
                cand = seen
            in_order = False
        # Scores: a term's words found among the words of the agent's strings. One term whose
        # every matching string holds all its words (the usual case) scores the same for all.
        query_words = [w for w in (tuple(dict.fromkeys(t.split())) for t in lowered if t) if w]
        best = sum(len(w) for w in query_words)
        uniform = not query_words or (len(real) == 1 and driver is not None and all(
            set(query_words[0]) <= set(texts[sid].split())  # type: ignore[union-attr]
            for sid in driver) and len(query_words) == 1)
        words_of: dict[str, list[str]] = {}
        keys: list[int] = []
        if (uniform and driver is not None and not verify and runtime_id is None
                and node_id is None and not wanted_tags):
            # The usual many-hit query: every candidate holds a matching string (so declares
            # a capability) and scores the same; only the status is left to look at.
            got = [agents[aid] for aid in cand]
            cand = ()
            keys = ([a.seq for a in got] if status is None
                    else [a.seq for a in got if a.status is status])
        for aid in cand:
            a = agents[aid]
            if status is not None and a.status is not status:
                continue
            if runtime_id is not None and a.record.runtime_id != runtime_id:
                continue
            if node_id is not None and a.node != node_id:
                continue
            if wanted_tags and not wanted_tags <= a.tags:
                continue
            rec = a.record
            caps = _strings_of(rec) if rec.skills else rec.capabilities
            if not caps:
                continue
            if verify and not all(any(t in lower(c) for c in caps) for t in verify):
                continue
            if uniform:
                keys.append(a.seq)
                continue
            have: set[str] = set()
            for c in caps:
                ws = words_of.get(c)
                if ws is None:
                    ws = words_of[c] = lower(c).split()
                have.update(ws)
            score = 0
            for words in query_words:
                for w in words:
                    if w in have:
                        score += 1
            keys.append((best - score) << _SHIFT | a.seq)
        if not (in_order and uniform):
            keys.sort()  # into rank, then tie order (plain ints)
        order, mask = self._order, (1 << _SHIFT) - 1
        return [order[k & mask] for k in keys[q.offset:end]]  # type: ignore[misc]

    def ids_by_status(self, status: AgentStatus) -> frozenset[str]:
        """Ids of the agents with ``status`` (ACTIVE: a scan, meant for occasional listings)."""
        if status is not _ACTIVE:
            return frozenset(self._by_status[status])
        return frozenset(aid for aid, a in self._agents.items() if a.status is status)

    def runtimes(self) -> dict[str, int]:
        """Runtime id -> number of indexed agents."""
        return dict(self._runtime_count)

    def runtime_size(self, runtime_id: str) -> int:
        return self._runtime_count.get(runtime_id, 0)

    def status_counts(self) -> dict[AgentStatus, int]:
        return dict(self._status_count)

    def capability_map(self) -> dict[str, frozenset[str]]:
        """Lower-cased capability string -> ids of the agents that declare it."""
        self._settle()
        table = self._strings
        return {t: frozenset(table.agents(sid)) for t, sid in table.items()}

    def distinct_capabilities(self) -> int:
        self._settle()
        return len(self._strings)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents
