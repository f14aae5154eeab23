"""``Router``: select and send from one node, with the state that is local to that node.

Rules:
- One router per node (:func:`router_for`), shared by the Python API, the HTTP API and so the
  CLI and the MCP tools: one set of round-robin cursors (one per query and strategy), one
  board of circuit breakers (``breaker``), one set of task counters (the caller's view:
  requests, completed and failed tasks, errors, sends in flight).
- A send is checked whole before anything goes out (message, deadline, attempts, query,
  strategy); then the agents are tried in the selection's order, at most ``attempts`` of them
  and never past the deadline. The next agent is tried when one could not be reached or
  rejected the request unprocessed (4xx) — always — and after a 5xx or a timeout only when the
  caller marked the send ``idempotent``; an agent's A2A error ends the send. With streaming,
  failover stops once the agent's first event has been passed on.
- A failed attempt opens the agent's breaker here and counts here; it never writes a status.
- For agents this node hosts and whose load nobody set, the sends in flight through it are
  published as their load (``set_load``), through the owner's load gate.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gossipreg.core.errors import GossipregError, InvalidArgumentError
from gossipreg.core.route.select import (
    Candidate,
    SelectQuery,
    Strategy,
    StrategyFn,
    choose,
    parse_strategy,
    pool_limit,
)
from gossipreg.io.route import a2a
from gossipreg.io.route.breaker import Breakers

if TYPE_CHECKING:
    import httpx

    from gossipreg.io.runner import NodeRunner

__all__ = ["ATTEMPTS_MAX", "DEADLINE_MAX", "Attempt", "Counters", "Router", "SendFailedError",
           "SendResult", "router_for"]

DEADLINE_MAX = 600.0
ATTEMPTS_MAX = 10
_RETRY_ALWAYS = (a2a.UNREACHABLE, a2a.REJECTED)
_RETRY_IDEMPOTENT = (a2a.SERVER_ERROR, a2a.TIMEOUT)


@dataclass(frozen=True)
class Attempt:
    """One try of a send: which agent, at which URL, how it ended and how long it took."""

    agent_id: str
    node_id: str
    url: str
    outcome: str  # "ok" or one of a2a's failure outcomes
    latency: float  # seconds
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "node_id": self.node_id, "url": self.url,
                "outcome": self.outcome, "latency_ms": round(self.latency * 1000, 3),
                "detail": self.detail}


@dataclass
class SendResult:
    """A delivered send: the agent that answered, its answer (the last A2A ``StreamResponse``
    as JSON, and its text), the message id, and every attempt in order."""

    agent_id: str
    node_id: str
    url: str
    message_id: str
    response: dict[str, Any]
    text: str
    attempts: list[Attempt]

    def to_json(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "node_id": self.node_id, "url": self.url,
                "message_id": self.message_id, "response": self.response, "text": self.text,
                "attempts": [a.to_json() for a in self.attempts]}


class SendFailedError(GossipregError):
    """No agent answered the send (HTTP 502, CLI exit 1); ``attempts`` says what happened."""

    code = "unavailable"

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


@dataclass
class Counters:
    """The caller's view of an agent's tasks (kaizen's counter names)."""

    request_count: int = 0
    completed_tasks: int = 0
    failed_tasks: int = 0
    error_count: int = 0
    active_tasks: int = 0


@dataclass
class _Send:
    query: SelectQuery
    strategy: Strategy | StrategyFn
    message: Any
    deadline: float
    attempts: int
    idempotent: bool
    stream: bool
    tried: list[Attempt] = field(default_factory=list)


def _number(value: object, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidArgumentError(f"{what} must be a number")
    if not lo < value <= hi:
        raise InvalidArgumentError(f"{what} must be > {lo:g} and at most {hi:g} seconds")
    return float(value)


class Router:
    """Select and send for ``node`` (see the module rules)."""

    def __init__(self, node: NodeRunner, rng: random.Random | None = None,
                 breakers: Breakers | None = None) -> None:
        self.node = node
        self.rng = rng or random.Random(secrets.randbits(64))
        self.breakers = breakers or Breakers()
        self.counters: dict[str, Counters] = {}
        self._cursors: dict[tuple[Any, ...], int] = {}
        self._explicit: set[str] = set()  # own agents whose load someone set
        self._http: httpx.AsyncClient | None = None

    # ----------------------------------------------------------------- select
    def query(self, text: str | None = None, *, capability: str | None = None,
              agent_ids: Sequence[str] | None = None, filters: Mapping[str, Any] | None = None,
              status: object = None, k: int = 3, sendable: bool = False) -> SelectQuery:
        return SelectQuery.of(text, capability=capability, agent_ids=agent_ids,
                              filters=filters, status=status, k=k, sendable=sendable)

    def choose(self, q: SelectQuery, strategy: object = "best") -> list[Candidate]:
        """The ranked candidates for ``q`` (``core.route.select``), with this node's cursors,
        cooldowns and sends in flight."""
        strat = parse_strategy(strategy)
        pool = self.node.read.pool(q, limit=pool_limit(q, strat))
        key = (strat, q.text, q.capability, q.agent_ids, tuple(sorted(map(str, q.filters))),
               str(sorted(q.filters.items(), key=str)), q.statuses, q.sendable)
        cursor = self._cursors.get(key, 0) if strat is Strategy.ROUND_ROBIN else 0
        inflight = {a: c.active_tasks for a, c in self.counters.items() if c.active_tasks}
        out = choose(pool, q, strat, self.rng, cursor=cursor,
                     cooling=self.breakers.cooling(time.monotonic()), inflight=inflight)
        if strat is Strategy.ROUND_ROBIN:
            self._cursors[key] = cursor + 1
        return out

    def select(self, text: str | None = None, *, strategy: object = "best", k: int = 3,
               **kw: Any) -> list[Candidate]:
        """``choose(query(...), strategy)`` in one call."""
        return self.choose(self.query(text, k=k, **kw), strategy)

    # ------------------------------------------------------------------- load
    async def set_load(self, agent_id: str, active_tasks: int, max_concurrency: int) -> bool:
        """The runtime's own figure for an agent this node hosts (it then replaces the count
        of sends in flight); False when another node hosts it."""
        ok = await self.node.set_load(agent_id, active_tasks, max_concurrency)
        if ok:
            self._explicit.add(agent_id)
        return ok

    async def _count_own(self, c: Candidate, delta: int) -> None:
        counters = self.counters.setdefault(c.agent_id, Counters())
        counters.active_tasks = max(0, counters.active_tasks + delta)
        if c.node_id == self.node.name and c.agent_id not in self._explicit:
            await self.node.set_load(c.agent_id, counters.active_tasks,
                                     c.agent.record.max_concurrency)

    # ------------------------------------------------------------------- send
    def plan(self, message: object, q: SelectQuery, strategy: object = "best", *,
             deadline: object = 30.0, attempts: object = 3, idempotent: bool = False,
             stream: bool = False) -> _Send:
        """Check a send whole (raises InvalidArgumentError before anything goes out)."""
        a2a.build_message(message)
        secs = _number(deadline, "deadline", 0.0, DEADLINE_MAX)
        if type(attempts) is not int or not 0 < attempts <= ATTEMPTS_MAX:
            raise InvalidArgumentError(f"attempts must be an integer in 1..{ATTEMPTS_MAX}")
        if not isinstance(idempotent, bool) or not isinstance(stream, bool):
            raise InvalidArgumentError("idempotent and stream must be booleans")
        q = SelectQuery(q.text, q.capability, q.agent_ids, q.filters, q.statuses,
                        max(q.k, attempts), True)
        return _Send(q, parse_strategy(strategy), message, secs, attempts, idempotent, stream)

    async def send(self, plan: _Send) -> SendResult:
        """Deliver a planned send (see the module rules); raises SendFailedError."""
        result: SendResult | None = None
        async for kind, value in self.run(plan):
            if kind == "result":
                result = value
        assert result is not None
        return result

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            httpx = a2a.sdk("httpx")
            self._http = httpx.AsyncClient(timeout=None)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run(self, p: _Send) -> AsyncIterator[tuple[str, Any]]:
        """A send as events: ``("attempt", Attempt)`` after each try, ``("response", json)``
        per answer passed on (streaming), ``("result", SendResult)`` last."""
        loop = asyncio.get_running_loop()
        end = loop.time() + p.deadline
        msg = a2a.build_message(p.message)
        candidates = self.choose(p.query, p.strategy)
        http = self._client()
        why = "no agent answered"
        for c in candidates[:p.attempts]:
            left = end - loop.time()
            if left <= 0:
                why = f"the deadline of {p.deadline:g} s passed"
                break
            assert c.endpoint is not None  # a sendable query keeps only agents with one
            t0 = loop.time()
            counters = self.counters.setdefault(c.agent_id, Counters())
            counters.request_count += 1
            self.breakers.begin(c.agent_id, time.monotonic())
            await self._count_own(c, +1)
            passed_on, last = 0, None
            outcome, detail = "ok", ""
            try:
                it = a2a.stream_agent(http, a2a.client_card(c.agent.record, c.endpoint), msg,
                                      p.stream)
                try:
                    while True:
                        ev = await asyncio.wait_for(anext(it), end - loop.time())
                        last = ev
                        if p.stream:
                            passed_on += 1
                            yield "response", a2a.response_json(ev)
                except StopAsyncIteration:
                    pass
                finally:
                    await it.aclose()
                if last is None:
                    outcome, detail = a2a.AGENT_ERROR, "the agent sent no answer"
            except (asyncio.CancelledError, GeneratorExit):  # cancelled, or the caller stopped
                self.breakers.release(c.agent_id)
                await self._count_own(c, -1)
                raise
            except Exception as e:
                outcome, detail = a2a.classify(e)
            await self._count_own(c, -1)
            att = Attempt(c.agent_id, c.node_id, c.endpoint.url, outcome, loop.time() - t0,
                          detail)
            p.tried.append(att)
            yield "attempt", att
            if outcome == "ok":
                assert last is not None
                self.breakers.success(c.agent_id)
                counters.completed_tasks += 1
                yield "result", SendResult(c.agent_id, c.node_id, c.endpoint.url,
                                           msg.message_id, a2a.response_json(last),
                                           a2a.response_text(last), list(p.tried))
                return
            counters.error_count += 1
            counters.failed_tasks += 1
            if outcome == a2a.AGENT_ERROR:
                self.breakers.success(c.agent_id)  # reachable: its answer is an error
                why = f"agent {c.agent_id} answered with an error: {detail}"
                break
            self.breakers.failure(c.agent_id, time.monotonic())
            if passed_on:
                why = f"agent {c.agent_id} failed after its first answer ({outcome})"
                break
            if outcome not in _RETRY_ALWAYS and not (p.idempotent
                                                     and outcome in _RETRY_IDEMPOTENT):
                why = (f"agent {c.agent_id}: {outcome} ({detail}); not retried elsewhere: "
                       f"the send is not marked idempotent")
                break
        else:
            if p.tried and loop.time() >= end:
                why = f"the deadline of {p.deadline:g} s passed"
        raise SendFailedError(f"send failed after {len(p.tried)} attempt(s): {why}", p.tried)

    def snapshot(self) -> dict[str, Any]:
        """Breakers and counters, for operators (``GET /v1/route``)."""
        return {"breakers": self.breakers.snapshot(time.monotonic()),
                "counters": {a: vars(c).copy() for a, c in sorted(self.counters.items())}}


_ROUTERS: weakref.WeakKeyDictionary[NodeRunner, Router] = weakref.WeakKeyDictionary()


def router_for(node: NodeRunner) -> Router:
    """The node's one router (made on first use)."""
    r = _ROUTERS.get(node)
    if r is None:
        r = _ROUTERS[node] = Router(node)
    return r
