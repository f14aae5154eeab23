"""Health checks for agents registered over HTTP by runtimes that do not heartbeat themselves
(Consul's checks are the model).

- ``{"http": url, "interval": s, "timeout": s}``: the owner node GETs ``url`` every
  ``interval`` seconds; a 2xx within ``timeout`` is a heartbeat (and, after a failure, writes
  ACTIVE with cause ``check_passed``); anything else writes UNHEALTHY with cause
  ``check_failed`` once, and heartbeats stop, so an agent down for ``auto_deregister_timeout``
  is deregistered as any silent agent.
- ``{"ttl": s}``: the agent heartbeats itself and must do so every ``s`` seconds; a later one
  writes UNHEALTHY (``check_failed``), the next heartbeat ACTIVE (``check_passed``).
- Checks live on the owner node only (not replicated): they end with the agent, or with the
  node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentStatus, AgentView, RegistryEvent, RegistryEventType

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Check", "CheckRunner", "CheckedNode", "heartbeat_contract", "parse_check"]


class CheckedNode(Protocol):
    """What the checks need of the node that owns them (a runner)."""

    config: NodeConfig

    @property
    def running(self) -> bool: ...
    def get(self, agent_id: str) -> AgentView | None: ...
    def heartbeat(self, agent_id: str) -> Awaitable[bool]: ...
    def set_status(self, agent_id: str, status: AgentStatus, reason: str = ..., *,
                   check: bool = ...) -> Awaitable[bool]: ...
    def add_listener(self, callback: Callable[[RegistryEvent], Any],
                     takes: Callable[[RegistryEventType], bool] | None = None) -> None: ...

log = logging.getLogger("gossipreg.io.checks")


def _deregistered(kind: RegistryEventType) -> bool:
    return kind is RegistryEventType.AGENT_DEREGISTERED


@dataclass(frozen=True, slots=True)
class Check:
    """One agent's check: ``http`` (with interval and timeout) or ``ttl``."""

    http: str | None = None
    interval: float = 10.0
    timeout: float = 2.0
    ttl: float | None = None

    def as_json(self) -> dict[str, Any]:
        if self.http is not None:
            return {"http": self.http, "interval": self.interval, "timeout": self.timeout}
        return {"ttl": self.ttl}


def _seconds(spec: dict[str, Any], key: str, default: float | None) -> float | None:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise InvalidArgumentError(f"check {key} must be a number of seconds in (0, 86400]")
    return float(value)


def parse_check(spec: object) -> Check:
    """Validate a check description; raises InvalidArgumentError (HTTP 400, CLI and Python
    read the same message)."""
    if not isinstance(spec, dict):
        raise InvalidArgumentError("check must be an object: {http, interval, timeout} or {ttl}")
    unknown = set(spec) - {"http", "interval", "timeout", "ttl"}
    if unknown:
        raise InvalidArgumentError(f"unknown check fields: {sorted(unknown)}")
    if ("http" in spec) == ("ttl" in spec):
        raise InvalidArgumentError("a check has either http or ttl")
    if "ttl" in spec:
        if set(spec) != {"ttl"}:
            raise InvalidArgumentError("a ttl check takes no interval or timeout")
        return Check(ttl=_seconds(spec, "ttl", None))
    url = spec["http"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or len(url) > 2048:
        raise InvalidArgumentError("check http must be an http:// or https:// URL")
    interval = _seconds(spec, "interval", 10.0)
    timeout = _seconds(spec, "timeout", 2.0)
    assert interval is not None and timeout is not None
    if timeout > interval:
        raise InvalidArgumentError("check timeout must not exceed its interval")
    return Check(http=url, interval=interval, timeout=timeout)


def heartbeat_contract(node: CheckedNode, check: Check | None) -> dict[str, Any]:
    """What keeps a newly registered agent alive, for the 201 answer."""
    cfg = node.config
    if check is not None:
        how = (f"the node checks {check.http} every {check.interval:g} s"
               if check.http else f"heartbeat at least every {check.ttl:g} s (ttl check)")
        return {"required": check.ttl is not None, "check": check.as_json(), "note": how}
    if cfg.heartbeat_timeout is None:
        return {"required": False, "note": "heartbeats are not judged on this node"}
    every = cfg.heartbeat_timeout / 2
    return {"required": True, "every": every, "unhealthy_after": cfg.heartbeat_timeout,
            "deregistered_after": cfg.auto_deregister_timeout,
            "note": f"POST /v1/agents/{{id}}/heartbeat about every {every:g} s: without one "
                    f"for {cfg.heartbeat_timeout:g} s the agent turns UNHEALTHY, for "
                    f"{cfg.auto_deregister_timeout:g} s it is deregistered (or register it "
                    f"with a check)"}


class CheckRunner:
    """The checks of one node's agents, one task each. ``on_change`` is told when the set of
    checks changes (the node's data directory keeps them)."""

    def __init__(self, node: CheckedNode) -> None:
        self.node = node
        self.on_change: Callable[[], None] | None = None
        self.specs: dict[str, Check] = {}  # agent id -> its check
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failed: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        node.add_listener(self._on_event, _deregistered)

    def add(self, agent_id: str, check: Check) -> None:
        self.remove(agent_id)
        run = self._http if check.http is not None else self._ttl
        self._tasks[agent_id] = asyncio.get_running_loop().create_task(run(agent_id, check))
        self.specs[agent_id] = check
        if self.on_change is not None:
            self.on_change()

    def remove(self, agent_id: str) -> None:
        task = self._tasks.pop(agent_id, None)
        self._failed.discard(agent_id)
        if self.specs.pop(agent_id, None) is not None and self.on_change is not None:
            self.on_change()
        if task is not None:
            task.cancel()

    def _on_event(self, ev: RegistryEvent) -> None:  # (deregistrations only: _deregistered)
        if ev.event_type is RegistryEventType.AGENT_DEREGISTERED and ev.agent_id is not None:
            self.remove(ev.agent_id)

    async def close(self) -> None:
        """Stop every check (their specs stay: the data directory keeps them)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _mark(self, agent_id: str, ok: bool) -> None:
        """Write the verdict on a change only; undo only our own UNHEALTHY (an operator's
        status write stands)."""
        view = self.node.get(agent_id)
        if view is None or not self.node.running:
            return
        if not ok and agent_id not in self._failed:
            self._failed.add(agent_id)
            log.warning("agent %s: check failed, marked unhealthy", agent_id)
            if view.status is not AgentStatus.UNHEALTHY:
                await self.node.set_status(agent_id, AgentStatus.UNHEALTHY, "check_failed",
                                           check=True)
        elif ok and agent_id in self._failed:
            self._failed.discard(agent_id)
            if view.status is AgentStatus.UNHEALTHY:
                await self.node.set_status(agent_id, AgentStatus.ACTIVE, "check_passed",
                                           check=True)

    async def _probe(self, url: str, timeout: float) -> bool:
        import aiohttp

        if self._session is None:
            # A new connection per probe: a kept-alive one can outlive the agent's listener.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True))
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=timeout),
                                         allow_redirects=False) as resp:
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _http(self, agent_id: str, check: Check) -> None:
        assert check.http is not None
        while self.node.get(agent_id) is not None:
            ok = await self._probe(check.http, check.timeout)
            if ok:
                await self.node.heartbeat(agent_id)
            await self._mark(agent_id, ok)
            await asyncio.sleep(check.interval)

    async def _ttl(self, agent_id: str, check: Check) -> None:
        assert check.ttl is not None
        while (view := self.node.get(agent_id)) is not None:
            await self._mark(agent_id, time.time() - view.last_heartbeat <= check.ttl)
            await asyncio.sleep(min(check.ttl / 4, 1.0))
