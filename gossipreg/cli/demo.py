"""``gossipreg demo``: a live mesh on loopback, printed as it happens.

Starts N runtimes as separate ``gossipreg node`` processes plus an observer node in this
process, registers agents on the runtimes through their HTTP API, discovers them on the
observer (a local query, no network hop), then SIGKILLs one runtime and shows the mesh detect
it. No external service is needed; every child process is killed on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time

import aiohttp

from gossipreg.core.config import NodeConfig
from gossipreg.core.types import AgentStatus, MemberState, RegistryEvent, RegistryEventType
from gossipreg.io.gossip_node import GossipNode

__all__ = ["run_demo"]

E = RegistryEventType
AGENTS = [
    ("code-agent", "CodeAgent", ["Python code generation", "code review"]),
    ("data-agent", "DataAgent", ["data analysis", "SQL query optimization"]),
    ("writing-agent", "WritingAgent", ["content writing", "summarization"]),
    ("research-agent", "ResearchAgent", ["web research", "data analysis"]),
    ("review-agent", "ReviewAgent", ["code review", "security audit"]),
]
LINE = "=" * 70


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _section(title: str) -> None:
    print(f"\n{LINE}\n{title}\n{LINE}", flush=True)


class _Printer:
    """Prints the observer's events as they arrive, with the time since the demo started."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.seen: list[RegistryEvent] = []

    def __call__(self, ev: RegistryEvent) -> None:
        self.seen.append(ev)
        subject = ev.agent_id or ev.runtime_id or ev.metadata.get("node_id")
        extra = ""
        if ev.event_type is E.AGENT_STATUS_CHANGED:
            extra = f" {ev.metadata['old_status']} → {ev.metadata['new_status']}"
        elif ev.event_type in (E.MEMBER_SUSPECT, E.MEMBER_FAILED) and "source" in ev.metadata:
            extra = f" (reported by {ev.metadata['source']})"
        print(f"[EVENT +{time.monotonic() - self.t0:6.2f}s] {ev.event_type.name}: "
              f"{subject}{extra}", flush=True)


async def _spawn(name: str, port: int, seed: str | None) -> asyncio.subprocess.Process:
    cmd = [sys.executable, "-m", "gossipreg", "node", "--name", name,
           "--bind", f"127.0.0.1:{port}", "--profile", "local"]
    if seed:
        cmd += ["--join", seed]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 10.0)
    if b"listening" not in line:
        raise RuntimeError(f"{name} did not start: {line!r}")
    return proc


async def run_demo(n: int = 3) -> int:
    """Run the demo with ``n`` runtimes; returns the exit code."""
    n = max(2, min(n, 8))
    t0 = time.monotonic()
    procs: dict[str, asyncio.subprocess.Process] = {}
    observer: GossipNode | None = None
    try:
        _section(f"Starting {n} runtimes (separate processes) and an observer node")
        ports = {f"runtime-{i + 1}": _free_port() for i in range(n)}
        seed = f"127.0.0.1:{ports['runtime-1']}"
        for name, port in ports.items():
            procs[name] = await _spawn(name, port, None if name == "runtime-1" else seed)
            print(f"  ✓ {name} (pid {procs[name].pid}) on 127.0.0.1:{port}", flush=True)
        printer = _Printer(t0)
        observer = GossipNode("observer", config=NodeConfig.local(), seeds=[seed])
        observer.add_listener(printer)
        await observer.start()
        joined = await observer.wait_for(
            lambda: sum(m.state is MemberState.ALIVE for m in observer.members()) == n + 1, 10)
        print(f"  ✓ observer sees {n + 1} members alive: {joined}", flush=True)

        _section("Registering agents on their runtimes (HTTP write API)")
        placed = {}
        async with aiohttp.ClientSession() as http:
            for i, (aid, name, caps) in enumerate(AGENTS[: max(n + 1, 3)]):
                rt = f"runtime-{i % n + 1}"
                body = {"agent_id": aid, "name": name, "runtime_id": rt, "capabilities": caps}
                async with http.post(f"http://127.0.0.1:{ports[rt]}/v1/agents",
                                     json=body) as resp:
                    resp.raise_for_status()
                placed[aid] = rt
                print(f"  ✓ {name} registered on {rt}: {', '.join(caps)}", flush=True)
        ok = await observer.wait_for(lambda: all(observer.get(a) for a in placed), 10)
        print(f"  ✓ all {len(placed)} agents visible on the observer: {ok}", flush=True)

        _section("Capability discovery on the observer (local replica, no network hop)")
        for q in ("code", "data analysis", "writing"):
            t = time.perf_counter()
            found = observer.find(q)
            us = (time.perf_counter() - t) * 1e6
            names = ", ".join(f"{v.record.name} on {v.runtime_id}" for v in found) or "none"
            print(f"  '{q}': {len(found)} found in {us:.0f} µs → {names}", flush=True)

        victim = "runtime-1"
        _section(f"Killing {victim} with SIGKILL: the mesh must notice by itself")
        lost = [a for a, rt in placed.items() if rt == victim]
        kill_at = time.monotonic()
        procs[victim].kill()
        await procs[victim].wait()
        detected = await observer.wait_for(
            lambda: any(m.node_id == victim and m.state is MemberState.DEAD
                        for m in observer.members()), 20)
        took = time.monotonic() - kill_at
        offline = await observer.wait_for(
            lambda: all((v := observer.get(a)) is not None and v.status is AgentStatus.OFFLINE
                        for a in lost), 5)
        print(f"  ✓ {victim} declared DEAD after {took:.2f} s: {detected}; its agents "
              f"OFFLINE: {offline}", flush=True)
        found = observer.find("code")
        print(f"  routing 'code' now: {', '.join(v.record.name for v in found) or 'none'} "
              f"(ACTIVE only)", flush=True)

        _section("Summary")
        for m in sorted(observer.members(), key=lambda m: m.node_id):
            print(f"  member {m.node_id:12} {m.state.name.lower():8} {m.address}")
        for v in observer.list_agents():
            print(f"  agent  {v.record.name:14} {v.runtime_id:12} {v.status.value}")
        print(f"  {len(printer.seen)} events observed in {time.monotonic() - t0:.1f} s",
              flush=True)
        return 0 if joined and ok and detected and offline else 1
    finally:
        if observer is not None:
            await observer.shutdown()
        for p in procs.values():
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                await asyncio.wait_for(p.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                await p.wait()
