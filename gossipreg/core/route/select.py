"""Selection: which agents to try for a task, in which order, and why.

Rules:
- A :class:`SelectQuery` names the need in exactly one way — free ``text`` (the node's ranked
  search), a ``capability`` (kaizen's substring match) or ``agent_ids`` — plus ARD ``filters``
  and the ``statuses`` accepted (ACTIVE unless the caller asks for others). Every check raises
  :class:`~gossipreg.core.errors.InvalidArgumentError` with the message all surfaces show.
- The pool (built by the node's reader) holds each matching agent with its relevance, its
  owner's member state, its published load (``load/<id>``) and the endpoint a send would use:
  the first of the card's endpoints, in card order, whose binding the client speaks.
- Tiers: agents whose owner is ALIVE and that the caller does not hold in cooldown come first
  and alone; agents whose owner is SUSPECT are chosen only when no such agent matches, and
  agents in the caller's cooldown only when nothing else does. ``why`` says which tier.
- The pool of a text need is its most relevant matches: ``max(64, 8 k)`` for ``best``,
  :data:`POOL_MAX` for the other strategies (a rotation over the 30,000 agents that mention
  "code" serves nobody); a capability's or named ids' pool is every match.
- Strategies order the chosen tier: ``best`` (relevance, the pool's order), ``round_robin``
  (by agent id, rotated by the caller's cursor), ``random`` (the injected ``random.Random``),
  ``least_loaded`` (published ``active_tasks`` plus the caller's own sends in flight, over
  ``max_concurrency``; no published load counts as idle; ties by relevance, then id), or a
  function given the tier's candidates in ``best`` order that returns those to try, in order.
- Pure and deterministic: no clock, no I/O; randomness only from the caller's generator.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from gossipreg.core.errors import InvalidArgumentError, NoMatchError
from gossipreg.core.types import (
    AgentLoad,
    AgentRecord,
    AgentStatus,
    AgentView,
    Endpoint,
    MemberState,
)

__all__ = ["BINDINGS", "K_MAX", "POOL_MAX", "TEXT_MAX", "Candidate", "Match", "SelectQuery",
           "Strategy", "StrategyFn", "choose", "parse_strategy", "pool_limit", "usable_endpoint"]

K_MAX = 100
POOL_MAX = 256
TEXT_MAX = 4096
# The protocol bindings the send path's client speaks (a2a-sdk's HTTP transports).
BINDINGS = ("JSONRPC", "HTTP+JSON")


class Strategy(str, Enum):
    """How the chosen tier is ordered (kaizen's routing strategies, by their mesh names)."""

    BEST = "best"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_LOADED = "least_loaded"


class Candidate(NamedTuple):
    """One agent to try: where (``endpoint``, None when it has none a client speaks), how
    relevant, its status and published load, and why it is where it is in the order."""

    agent_id: str
    node_id: str
    name: str
    endpoint: Endpoint | None
    score: float
    status: AgentStatus
    load: AgentLoad | None
    why: str
    agent: AgentView


StrategyFn = Callable[[list[Candidate]], Sequence[Candidate] | Candidate | None]


class Match(NamedTuple):
    """A pool entry: the agent, its relevance, its owner's state and its published load."""

    agent: AgentView
    score: float
    owner: MemberState | None
    load: AgentLoad | None


def usable_endpoint(record: AgentRecord, bindings: Sequence[str] = BINDINGS) -> Endpoint | None:
    """The first endpoint of the card, in card order, whose binding is one of ``bindings``."""
    for e in record.endpoints:
        if e.binding.upper() in bindings and e.url:
            return e
    return None


def parse_strategy(value: object) -> Strategy | StrategyFn:
    """A strategy name (or :class:`Strategy`), or a function; anything else is refused."""
    if isinstance(value, Strategy):
        return value
    if isinstance(value, str):
        try:
            return Strategy(value.strip().lower())
        except ValueError:
            pass
        names = ", ".join(s.value for s in Strategy)
        raise InvalidArgumentError(f"unknown strategy {value[:64]!r}: use one of {names}")
    if callable(value):
        return value
    raise InvalidArgumentError(
        f"strategy must be a strategy name or a function, not {type(value).__name__}")


def _statuses(value: object) -> frozenset[AgentStatus]:
    if value is None:
        return frozenset({AgentStatus.ACTIVE})
    items = [value] if isinstance(value, str | AgentStatus) else value
    if not isinstance(items, list | tuple | set | frozenset) or not items:
        raise InvalidArgumentError("status must be a status name or a non-empty list of them")
    out = set()
    for s in items:
        if s == "any":
            return frozenset(AgentStatus)
        try:
            out.add(AgentStatus(s))
        except ValueError:
            raise InvalidArgumentError(
                f"unknown status {str(s)[:64]!r}: use one of "
                f"{[x.value for x in AgentStatus]} or any") from None
    return frozenset(out)


@dataclass(frozen=True)
class SelectQuery:
    """A validated selection request (see the module rules). ``sendable`` keeps only agents
    with an endpoint the client speaks (what a send needs)."""

    text: str | None = None
    capability: str | None = None
    agent_ids: tuple[str, ...] | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    statuses: frozenset[AgentStatus] = frozenset({AgentStatus.ACTIVE})
    k: int = 3
    sendable: bool = False

    @classmethod
    def of(cls, text: str | None = None, *, capability: str | None = None,
           agent_ids: Sequence[str] | None = None, filters: Mapping[str, Any] | None = None,
           status: object = None, k: int = 3, sendable: bool = False) -> SelectQuery:
        """Check the caller's arguments (one message per mistake, the same on every surface)."""
        given = [n for n, v in (("text", text), ("capability", capability),
                                ("agent_ids", agent_ids)) if v is not None]
        if len(given) != 1:
            raise InvalidArgumentError(
                "give exactly one of text, capability or agent_ids"
                + (f" (got {', '.join(given)})" if given else ""))
        for name, v in (("text", text), ("capability", capability)):
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise InvalidArgumentError(f"{name} must be a non-empty string")
            if isinstance(v, str) and len(v) > TEXT_MAX:
                raise InvalidArgumentError(f"{name} is longer than {TEXT_MAX} characters")
        ids: tuple[str, ...] | None = None
        if agent_ids is not None:
            if isinstance(agent_ids, str) or not isinstance(agent_ids, Sequence) or not all(
                    isinstance(a, str) for a in agent_ids) or not 0 < len(agent_ids) <= 1000:
                raise InvalidArgumentError("agent_ids must be a list of 1..1000 agent ids")
            ids = tuple(dict.fromkeys(agent_ids))
        if type(k) is not int or not 0 < k <= K_MAX:
            raise InvalidArgumentError(f"k must be an integer in 1..{K_MAX}")
        if filters is not None and not isinstance(filters, Mapping):
            raise InvalidArgumentError("filters must be an object of field path -> values")
        flt = dict(filters or {})
        if "status" in flt or "metadata.status" in flt:
            raise InvalidArgumentError("give statuses with status, not as a filter")
        return cls(text, capability, ids, flt, _statuses(status), k, sendable)

    def describe(self) -> str:
        """The need in a few words (for messages)."""
        if self.text is not None:
            return f"text {self.text[:80]!r}"
        if self.capability is not None:
            return f"capability {self.capability[:80]!r}"
        ids = list(self.agent_ids or ())
        return f"agent_ids {ids[:5]}" + (" ..." if len(ids) > 5 else "")


def pool_limit(q: SelectQuery, strategy: Strategy | StrategyFn) -> int | None:
    """How many matches the pool of ``q`` holds at most (see the module rules)."""
    if q.text is None:
        return None
    return max(64, 8 * q.k) if strategy is Strategy.BEST else POOL_MAX


def _active(m: Match, inflight: Mapping[str, int]) -> tuple[int, int]:
    own = inflight.get(m.agent.agent_id, 0)
    if m.load is None:
        return own, m.agent.record.max_concurrency
    return m.load.active_tasks + own, m.load.max_concurrency


def _order(tier: list[Match], strategy: Strategy, rng: random.Random, cursor: int,
           inflight: Mapping[str, int]) -> list[tuple[Match, str]]:
    n = len(tier)
    if strategy is Strategy.BEST:
        return [(m, f"best: relevance {m.score:.3f}, rank {i + 1} of {n}")
                for i, m in enumerate(tier)]
    if strategy is Strategy.ROUND_ROBIN:
        ring = sorted(tier, key=lambda m: m.agent.agent_id)
        start = cursor % n
        return [(m, f"round_robin: turn {cursor + i} over {n} agents")
                for i, m in enumerate(ring[start:] + ring[:start])]
    if strategy is Strategy.RANDOM:
        drawn = list(tier)
        rng.shuffle(drawn)
        return [(m, f"random: drawn among {n} agents") for m in drawn]
    rank = {id(m): i for i, m in enumerate(tier)}

    def key(m: Match) -> tuple[bool, float, int]:
        active, cap = _active(m, inflight)
        return active >= cap, active / cap, rank[id(m)]
    out = []
    for m in sorted(tier, key=key):
        active, cap = _active(m, inflight)
        known = "published" if m.load is not None else "no load published"
        out.append((m, f"least_loaded: {active}/{cap} busy ({known})"
                    + (", full" if active >= cap else "")))
    return out


def _tiers(pool: Sequence[Match], cooling: Container[str]
           ) -> tuple[list[Match], str]:
    healthy, suspect, cool = [], [], []
    for m in pool:
        if m.agent.agent_id in cooling:
            cool.append(m)
        elif m.owner is MemberState.SUSPECT:
            suspect.append(m)
        else:
            healthy.append(m)
    if healthy:
        return healthy, ""
    if suspect:
        return suspect, "; its owner is SUSPECT: no agent with a healthy owner matches"
    return cool, "; in this node's cooldown: every matching agent is"


def _candidate(m: Match, why: str, bindings: Sequence[str]) -> Candidate:
    v = m.agent
    return Candidate(v.agent_id, v.node_id, v.record.name, usable_endpoint(v.record, bindings),
                     m.score, v.status, m.load, why, v)


def choose(pool: Sequence[Match], q: SelectQuery, strategy: Strategy | StrategyFn,
           rng: random.Random, *, cursor: int = 0, cooling: Container[str] = (),
           inflight: Mapping[str, int] | None = None,
           bindings: Sequence[str] = BINDINGS) -> list[Candidate]:
    """The candidates to try, best first (at most ``q.k``); raises
    :class:`~gossipreg.core.errors.NoMatchError` when the pool is empty."""
    if not pool:
        raise NoMatchError(f"no {'reachable ' if q.sendable else ''}agent matches "
                           f"{q.describe()} in status {sorted(s.value for s in q.statuses)}")
    tier, note = _tiers(pool, cooling)
    if isinstance(strategy, Strategy):
        ordered = _order(tier, strategy, rng, cursor, inflight or {})
        return [_candidate(m, why + note, bindings) for m, why in ordered[:q.k]]
    offered = [_candidate(m, f"offered at rank {i + 1} of {len(tier)}{note}", bindings)
               for i, m in enumerate(tier)]
    picked = strategy(list(offered))
    if picked is None:
        picked = []
    elif isinstance(picked, Candidate):
        picked = [picked]
    known = {c.agent_id: c for c in offered}
    name = getattr(strategy, "__name__", "the strategy function")
    out: list[Candidate] = []
    for c in picked:
        if not isinstance(c, Candidate) or c.agent_id not in known:
            raise InvalidArgumentError(f"{name} must return candidates it was offered")
        if all(o.agent_id != c.agent_id for o in out):
            out.append(known[c.agent_id]._replace(why=f"chosen by {name}{note}"))
    if not out:
        raise NoMatchError(f"{name} chose none of the {len(offered)} agents matching "
                           f"{q.describe()}")
    return out[:q.k]
