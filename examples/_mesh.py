"""Shared pieces of the pattern scripts: a small real mesh, kaizen-style agents, printing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _llm import Backend

from gossipreg import AgentRegistry, AgentRegistryConfig, NodeConfig
from gossipreg.registry import RegistryEvent

LINE = "=" * 70


def section(title: str) -> None:
    print(f"\n{LINE}\n{title}\n{LINE}\n", flush=True)


@dataclass
class Agent:
    """A kaizen-style agent: capabilities in ``_a2a_card``, work done by an LLM when one is
    configured."""

    name: str
    capabilities: list[str]
    description: str = ""
    agent_id: str | None = None
    llm: Backend | None = None
    _a2a_card: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self._a2a_card = {"name": self.name, "capabilities": list(self.capabilities),
                          "description": self.description}

    async def run(self, task: str) -> str | None:
        """The LLM's answer, or None when no LLM is configured (the caller says skipped)."""
        if self.llm is None:
            return None
        return await self.llm.complete(
            f"You are {self.name}, an agent for: {', '.join(self.capabilities)}. "
            f"Answer in at most two sentences.\nTask: {task}")


def node_config(**overrides: Any) -> NodeConfig:
    """Fast timers for a loopback mesh (probe every 200 ms)."""
    return NodeConfig.local(**overrides)


async def start_mesh(names: Sequence[str], config: AgentRegistryConfig | None = None,
                     **node_overrides: Any) -> dict[str, AgentRegistry]:
    """One registry (a real node over HTTP on 127.0.0.1) per name, all joined; the first name
    is the seed everyone joins through."""
    regs: dict[str, AgentRegistry] = {}
    seed: list[str] = []
    for name in names:
        r = AgentRegistry(config, node_config=node_config(**node_overrides), name=name,
                          seeds=seed)
        await r.start()
        regs[name] = r
        seed = seed or [r.node.address]
    await wait_until(lambda: all(
        sum(m.state == 0 for m in r.node.members()) == len(names) for r in regs.values()), 10)
    return regs


async def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return pred()


def print_event(ev: RegistryEvent) -> None:
    kind = ev.event_type.name
    if ev.event_type.value.startswith("member_"):
        return
    subject = ev.agent_id if ev.agent_id else ev.runtime_id
    extra = f" → {ev.metadata['new_status']}" if "new_status" in ev.metadata else ""
    print(f"[EVENT] {kind}: {subject}{extra}", flush=True)


async def shutdown(regs: dict[str, AgentRegistry]) -> None:
    for r in reversed(list(regs.values())):
        await r.shutdown()
