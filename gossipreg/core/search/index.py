"""Capability index with kaizen's query semantics, answered in sub-linear time.

Rules (kaizen's ``find_agents_by_capability`` semantics): an agent matches when the lower-cased
query is a substring of one of its lower-cased capability strings; ``status`` filters (None =
any); results are ranked by word overlap — how many of the query's whitespace-separated words
occur among the words of the agent's capabilities — highest first, ties by registration time,
then id (so every node returns the same order). Several terms are ANDed (each may match a
different capability) and their overlaps add up.

Speed: many agents share capability strings, so the *distinct* lower-cased strings are indexed,
each with the set of agents holding it. Every 3-gram of a string maps to a compact posting
array of string ids; ids only grow, so arrays stay sorted by appending. A query takes the
shortest posting array among its 3-grams, verifies the substring on those candidates only, then
expands to their agents. A query of one or two characters checks every distinct string (still
no per-agent work). Removed strings are skipped while reading and compacted away once they make
up half of the postings.

Free text: every put with its record also feeds the lexical ranker (``ranker``, BM25F over
name, keywords and text); the vector index (``vectors``, when the node has a model) holds the
codes the directory hands it. :meth:`CapabilityIndex.search` ranks by both
(:mod:`~gossipreg.core.search.hybrid`) under the same filters. The ranker takes the changes at
the next search (only those: never a rescan), so writes do not pay for tokenising.

A2A skill ids are capability strings of the index too (beside the record's capabilities: its
skills' names, descriptions and tags), so a capability query finds an agent by a skill's id.
"""

from __future__ import annotations

import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.hybrid import rank
from gossipreg.core.search.query import Query
from gossipreg.core.search.rank import LexicalRanker
from gossipreg.core.search.vecindex import VectorIndex
from gossipreg.core.types import AgentRecord, AgentStatus

__all__ = ["CapabilityIndex", "score_words"]

_N = 3


def score_words(text: str) -> tuple[str, ...]:
    """The distinct words counted by the overlap ranking (a tuple: smaller than a set, and
    a capability string has only a few words). Words are interned: the same word in many
    capability strings is stored once."""
    return tuple(dict.fromkeys(sys.intern(w) for w in text.lower().split()))


class _Str:
    """A distinct lower-cased capability string and the agents declaring it. Most strings
    belong to one agent, so a lone holder is kept as a plain str (a set costs ~200 bytes)."""

    __slots__ = ("_holders", "sid", "text", "words")

    def __init__(self, sid: int, text: str) -> None:
        self.sid = sid
        self.text = text
        self.words = score_words(text)
        self._holders: str | set[str] | None = None

    @property
    def agents(self) -> Collection[str]:
        h = self._holders
        if h is None:
            return ()
        return (h,) if isinstance(h, str) else h

    def add(self, agent_id: str) -> None:
        h = self._holders
        if h is None:
            self._holders = agent_id
        elif isinstance(h, str):
            if h != agent_id:
                self._holders = {h, agent_id}
        else:
            h.add(agent_id)

    def discard(self, agent_id: str) -> None:
        h = self._holders
        if isinstance(h, str):
            if h == agent_id:
                self._holders = None
        elif h is not None:
            h.discard(agent_id)
            if len(h) == 1:
                self._holders = next(iter(h))


_NO_TAGS: frozenset[str] = frozenset()


class _Agent:
    __slots__ = ("node", "registered_at", "runtime", "status", "strs", "tags")

    def __init__(self, strs: tuple[_Str, ...], status: AgentStatus, runtime: str,
                 registered_at: float, tags: frozenset[str], node: str) -> None:
        self.strs = strs
        self.status = status
        self.runtime = runtime
        self.registered_at = registered_at
        self.tags = tags
        self.node = node


def _lower(text: str) -> str:
    """``text.lower()``, but the same object when it is already lower case (the index then
    shares the record's string instead of holding a copy)."""
    low = text.lower()
    return text if low == text else low


def _new_posting() -> array[int]:
    return array("i")


def _grams(text: str) -> set[str]:
    return {text[i:i + _N] for i in range(len(text) - _N + 1)}


class CapabilityIndex:
    """Agents by capability substring, status, runtime, tags and node."""

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._strings: dict[str, _Str] = {}
        self._by_sid: dict[int, _Str] = {}
        self._postings: defaultdict[str, array[int]] = defaultdict(_new_posting)
        self._next_sid = 0
        self._dead_postings = 0
        self._live_postings = 0
        # Counts only: filters are applied per candidate, and a set per status or runtime would
        # cost ~100 bytes per agent each.
        self._status_count: dict[AgentStatus, int] = dict.fromkeys(AgentStatus, 0)
        self._runtime_count: dict[str, int] = {}
        self.ranker = LexicalRanker()
        self.vectors: VectorIndex | None = None  # set by whoever knows the node's model
        # Record changes the ranker has not taken yet (None: forget the agent). They are taken
        # at the next search: a registration or deregistration costs a dict entry, not a
        # tokenisation, and a burst of changes to one agent is indexed once.
        self._rank_pending: dict[str, AgentRecord | None] = {}

    # ----------------------------------------------------------------- strings
    def _intern(self, text: str) -> _Str:
        s = self._strings.get(text)
        if s is None:
            sid = self._next_sid
            s = _Str(sid, text)
            self._next_sid = sid + 1
            self._strings[text] = s
            self._by_sid[sid] = s
            grams = _grams(text)
            postings = self._postings
            for g in grams:
                postings[g].append(sid)
            self._live_postings += len(grams)
        return s

    def _release(self, s: _Str) -> None:
        if s.agents:
            return
        del self._strings[s.text]
        del self._by_sid[s.sid]
        n = len(_grams(s.text))
        self._live_postings -= n
        self._dead_postings += n
        if self._dead_postings > max(1024, self._live_postings):
            self._compact()

    def _compact(self) -> None:
        live = self._by_sid
        for g in list(self._postings):
            arr = array("i", (sid for sid in self._postings[g] if sid in live))
            if arr:
                self._postings[g] = arr
            else:
                del self._postings[g]
        self._dead_postings = 0

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
            self.remove(agent_id)  # first: it may release strings the new entry takes again
        strings = self._strings
        strs: list[_Str] = []
        if record is not None and record.skills:
            capabilities = [*capabilities, *(s.id for s in record.skills)]
        for c in capabilities:
            # A known lower-case string is found as it is: no lowering, no copy.
            s = strings.get(c) or self._intern(_lower(c))
            if s not in strs:
                strs.append(s)
        for s in strs:
            s.add(agent_id)
        self._agents[agent_id] = _Agent(
            tuple(strs), status, runtime_id, registered_at,
            frozenset(t.lower() for t in tags) if tags else _NO_TAGS, node_id)
        self._status_count[status] += 1
        self._runtime_count[runtime_id] = self._runtime_count.get(runtime_id, 0) + 1
        if record is not None:
            self._rank_pending[agent_id] = record

    def set_status(self, agent_id: str, status: AgentStatus) -> None:
        """Change an agent's status; raises KeyError for an unknown agent."""
        a = self._agents[agent_id]
        self._status_count[a.status] -= 1
        a.status = status
        self._status_count[status] += 1

    def remove(self, agent_id: str) -> bool:
        a = self._agents.pop(agent_id, None)
        if a is None:
            return False
        self._rank_pending[agent_id] = None
        self._status_count[a.status] -= 1
        left = self._runtime_count[a.runtime] - 1
        if left:
            self._runtime_count[a.runtime] = left
        else:
            del self._runtime_count[a.runtime]
        for s in a.strs:
            s.discard(agent_id)
            self._release(s)
        return True

    # ----------------------------------------------------------------- queries
    def _matching_strings(self, term: str) -> list[_Str]:
        """Distinct strings containing ``term`` (already lower-cased)."""
        if len(term) < _N:
            return [s for s in self._strings.values() if term in s.text]
        grams = [term[i:i + _N] for i in range(len(term) - _N + 1)]
        best: array[int] | None = None
        for g in grams:
            arr = self._postings.get(g)
            if arr is None:
                return []
            if best is None or len(arr) < len(best):
                best = arr
        assert best is not None
        live = self._by_sid
        out = []
        for sid in best:
            s = live.get(sid)
            if s is not None and term in s.text:
                out.append(s)
        return out

    def find(self, q: Query) -> list[str]:
        """Ids of the agents matching ``q`` (all its capability terms), best first."""
        terms = list(q.capability) or [""]
        status, runtime_id, node_id, tags = q.status, q.runtime_id, q.node_id, q.tags
        limit, offset = q.limit, q.offset
        lowered = [t.lower() for t in terms]
        # "" matches every agent that declares a capability: no string lookup for it.
        real = [t for t in dict.fromkeys(lowered) if t]
        agents = self._agents
        cand: Collection[str]
        if real:
            # Candidates from the most selective term, then the others verified per agent.
            per_term = [self._matching_strings(t) for t in real]
            first = min(per_term, key=lambda strs: sum(len(s.agents) for s in strs))
            cand = set()
            for s in first:
                cand.update(s.agents)
        else:
            cand = agents.keys()
        verify = real if len(real) > 1 else ()
        wanted_tags = frozenset(t.lower() for t in tags)
        query_words = [score_words(t) for t in lowered if t]
        scored: list[tuple[int, float, str]] = []
        for aid in cand:
            a = agents[aid]
            if status is not None and a.status is not status:
                continue
            if runtime_id is not None and a.runtime != runtime_id:
                continue
            if node_id is not None and a.node != node_id:
                continue
            if wanted_tags and not wanted_tags <= a.tags:
                continue
            if not a.strs:
                continue
            if verify and not all(any(t in s.text for s in a.strs) for t in verify):
                continue
            score = 0
            for words in query_words:
                for w in words:
                    if any(w in s.words for s in a.strs):
                        score += 1
            # flat tuples sort faster than nested ones
            scored.append((-score, a.registered_at, aid))
        scored.sort()
        end = None if limit is None else offset + limit
        return [t[2] for t in scored[offset:end]]

    def _take_pending(self) -> None:
        """Hand the ranker the record changes since the last search (each agent once)."""
        pending, self._rank_pending = self._rank_pending, {}
        ranker = self.ranker
        for aid, record in pending.items():
            if record is None:
                ranker.remove(aid)
            else:
                ranker.put(aid, record)  # replaces what it held for the agent

    def search(self, text: str, *, status: AgentStatus | None = AgentStatus.ACTIVE,
               runtime_id: str | None = None, tags: Sequence[str] = (),
               node_id: str | None = None, limit: int | None = None, offset: int = 0,
               accept: Callable[[str], bool] | None = None,
               query: bytes | None = None) -> list[tuple[str, float]]:
        """``(agent id, score in [0, 1])`` of the agents matching ``text``, best first (ties by
        id), under the filters of :meth:`find` and ``accept`` (a predicate on the id).
        ``query`` is the text's code in the model of :attr:`vectors` (hybrid ranking, see
        :mod:`~gossipreg.core.search.hybrid`); without it the ranking is lexical. Empty text:
        every agent that passes the filters, score 0, by id."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a string, not {type(text).__name__}")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise InvalidArgumentError("limit must be a non-negative integer")
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError("offset must be a non-negative integer")
        wanted_tags = frozenset(t.lower() for t in tags)
        agents = self._agents

        def passes(aid: str) -> bool:
            a = agents.get(aid)
            return a is not None and (status is None or a.status is status) and (
                runtime_id is None or a.runtime == runtime_id) and (
                node_id is None or a.node == node_id) and (
                not wanted_tags or wanted_tags <= a.tags) and (accept is None or accept(aid))

        if not text.strip():
            end = None if limit is None else offset + limit
            return [(aid, 0.0) for aid in sorted(filter(passes, agents))[offset:end]]
        if self._rank_pending:
            self._take_pending()
        return rank(text, query, self.ranker, self.vectors, passes, limit, offset)

    def ids_by_status(self, status: AgentStatus) -> frozenset[str]:
        """Ids of the agents with ``status`` (a scan: meant for occasional listings)."""
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
        return {t: frozenset(s.agents) for t, s in self._strings.items()}

    def distinct_capabilities(self) -> int:
        return len(self._strings)

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents
