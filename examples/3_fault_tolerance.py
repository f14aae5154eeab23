"""Pattern 3: fault tolerance and health monitoring, with real failures.

Each production runtime is its own OS process (``_runtime.py``) hosting one agent that sends
heartbeats and answers tasks over A2A (a real a2a-sdk server on loopback). Tasks are routed and
sent by the registry itself (``select``/``send``, through the a2a-sdk client). First the
PrimaryAgent's A2A server dies while its runtime keeps heartbeating (the registry still says
ACTIVE): the send fails over to the BackupAgent, the primary cools down on this node, and it
answers again once its server is back. Then the PrimaryAgent's whole process is killed with
SIGKILL: nobody marks anything by hand, the mesh detects the failure by gossip and its agent
goes OFFLINE everywhere; tasks go to the BackupAgent; the runtime restarts, rejoins, and its
agent is ACTIVE again everywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
from _llm import detect
from _mesh import node_config, print_event, section, wait_until

from gossipreg import AgentRegistry, AgentRegistryConfig, AgentStatus, RegistryEventType
from gossipreg.io.route.breaker import BreakerState
from gossipreg.registry import AgentMetadata

HERE = Path(__file__).resolve().parent
RUNTIMES = {
    "prod_runtime_1": {"id": "primary-agent", "name": "PrimaryAgent",
                       "capabilities": ["task processing", "data transformation"]},
    "prod_runtime_2": {"id": "backup-agent", "name": "BackupAgent",
                       "capabilities": ["task processing", "data transformation"]},
    "prod_runtime_3": {"id": "monitoring-agent", "name": "MonitoringAgent",
                       "capabilities": ["system monitoring", "health checks"]},
}
E = RegistryEventType


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def spawn(name: str, port: int, seed: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "_runtime.py"), "--name", name, "--bind",
        f"127.0.0.1:{port}", "--join", seed, "--agents", json.dumps([RUNTIMES[name]]),
        stdout=asyncio.subprocess.PIPE, cwd=HERE, start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    if not line.startswith(b"ready"):
        raise RuntimeError(f"{name} did not start: {line!r}")
    return proc


async def show_filtered(observer: AgentRegistry, status: AgentStatus,
                        label: str) -> list[AgentMetadata]:
    found = await observer.find_agents_by_capability("task processing", status)
    print(f"Searching for 'task processing' with {status.name} filter:\n  Found "
          f"{len(found)} {label} agents:")
    for m in found:
        print(f"    - {m.name} on {m.runtime_id}")
    return found


def show(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def main() -> None:
    # The runtime processes run the agents' tasks and detect the LLM themselves (same rules).
    _, llm_line = await detect()
    print(llm_line)
    observer = AgentRegistry(AgentRegistryConfig(heartbeat_timeout=3.0),
                             node_config=node_config(), name="observer")
    await observer.start()
    printed_heartbeats: set[str] = set()

    def on_event(ev) -> None:  # type: ignore[no-untyped-def]
        if ev.event_type is E.AGENT_HEARTBEAT:
            if ev.agent_id in printed_heartbeats:
                return  # one line per agent is enough: they beat twice a second
            printed_heartbeats.add(ev.agent_id)
        print_event(ev)

    for kind in list(E)[:6]:
        observer.subscribe(kind, on_event)
    ports = {name: free_port() for name in RUNTIMES}
    for r in RUNTIMES.values():
        r["port"] = free_port()  # the agent's A2A server (the same after a restart)
    procs: dict[str, asyncio.subprocess.Process] = {}
    seed = observer.node.address
    ids = {r["name"]: r["id"] for r in RUNTIMES.values()}
    try:
        section("Registering Production Agents...")
        for name in RUNTIMES:
            procs[name] = await spawn(name, ports[name], seed)
        await wait_until(lambda: len(observer.agents) == 3, 10)
        print(f"✓ Registered {len(observer.agents)} agents across "
              f"{len(observer.runtime_agents)} runtimes (each its own process)")

        section("Heartbeat Monitoring:")
        print("Runtimes send heartbeats every 0.5 s...")
        await wait_until(lambda: len(printed_heartbeats) == 3, 5)
        await asyncio.sleep(0.05)
        print("✓ All agents sent heartbeats\n\nAgent Health Status:")
        for m in sorted(observer.agents.values(), key=lambda m: m.runtime_id):
            print(f"  - {m.name}: {m.status.value} (last heartbeat: {show(m.last_heartbeat)},"
                  f" {m.heartbeat_count} so far)")

        primary, backup = ids["PrimaryAgent"], ids["BackupAgent"]
        route = [primary, backup]  # the preference order for task processing
        names = {r["id"]: r["name"] for r in RUNTIMES.values()}
        a2a_port = RUNTIMES["prod_runtime_1"]["port"]

        async def send(label: str) -> None:
            res = await observer.send(agent_ids=route, message=f"Summarize: {label}",
                                      deadline=10)
            for a in res.attempts:
                print(f"  attempt: {names[a.agent_id]} -> {a.outcome} "
                      f"({a.latency * 1000:.0f} ms)")
            print(f"  answer from {names[res.agent_id]}: {res.text}")
            sent.append(res.agent_id)

        sent: list[str] = []
        section("Routing Tasks to A2A Agents:")
        for c in observer.select(capability="task processing", k=3):
            print(f"  candidate {c.name}: {c.endpoint.url if c.endpoint else '-'} ({c.why})")
        await send("the quarterly report")
        print(f"✓ Task answered by {names[sent[-1]]} over A2A")

        section("Agent Endpoint Failure:")
        os.kill(procs["prod_runtime_1"].pid, signal.SIGUSR1)
        await wait_until(lambda: not listening(a2a_port), 5)
        status = observer.agents[primary].status.value
        print(f"✗ PrimaryAgent's A2A server stopped; its runtime still heartbeats "
              f"(registry status: {status})")
        await send("the incident log")
        print(f"✓ Failed over to {names[sent[-1]]}")
        state = observer.router.breakers.state(primary, time.monotonic())
        print(f"  PrimaryAgent on this node's circuit breaker: {state.value}")
        await send("the on-call notes")
        print(f"✓ While it cools down PrimaryAgent is skipped: {names[sent[-1]]} answered "
              f"at once")

        section("Endpoint Recovery:")
        os.kill(procs["prod_runtime_1"].pid, signal.SIGUSR2)
        await wait_until(lambda: listening(a2a_port), 5)
        await wait_until(lambda: observer.router.breakers.state(
            primary, time.monotonic()) is not BreakerState.OPEN, 10)
        print("✓ PrimaryAgent's A2A server is back; its cooldown is over (half-open)")
        await send("the recovery plan")
        print(f"✓ {names[sent[-1]]} answers again")
        m = await observer.get_agent(primary)
        assert m is not None
        print(f"  PrimaryAgent as this node saw it: {m.completed_tasks} completed, "
              f"{m.failed_tasks} failed, {m.error_count} errors")

        section("Real Agent Failure:")
        victim = "prod_runtime_1"
        print(f"✗ Killing {victim} (pid {procs[victim].pid}) with SIGKILL — no status is "
              f"set by hand")
        t0 = time.monotonic()
        os.killpg(procs[victim].pid, signal.SIGKILL)
        await procs[victim].wait()
        detected = await wait_until(
            lambda: observer.agents.get(primary) is not None
            and observer.agents[primary].status is AgentStatus.OFFLINE, 15)
        took = time.monotonic() - t0
        await asyncio.sleep(0.05)
        print(f"✓ Failure detected by gossip in {took:.2f} s: {detected}")
        print("\nAgent Status After Failure (on the observer node):")
        for m in sorted(observer.agents.values(), key=lambda m: m.runtime_id):
            print(f"  - {m.name}: {m.status.value}")
        async with aiohttp.ClientSession() as http:
            for other in ("prod_runtime_2", "prod_runtime_3"):
                async with http.get(f"http://127.0.0.1:{ports[other]}/v1/agents/{primary}") as r:
                    status = (await r.json())["status"]
                print(f"  ({other} sees PrimaryAgent as {status})")

            section("Health-Based Agent Filtering:")
            await show_filtered(observer, AgentStatus.ACTIVE, "healthy")
            print()
            await show_filtered(observer, AgentStatus.OFFLINE, "offline")

            section("Failover Pattern:")
            print("Attempting to route task to healthy agent...")
            chosen = observer.select(capability="task processing")[0]
            print(f"  ✓ Selected: {chosen.name}\n  Note: PrimaryAgent bypassed (OFFLINE)")
            res = await observer.send(capability="task processing", deadline=10,
                                      message="Summarize: the primary runtime failed.")
            ran = observer.agents[res.agent_id]
            print(f"  Task ran on {ran.runtime_id} by {ran.name}: {res.text}")

            section("Agent Recovery:")
            print(f"✓ Restarting {victim} (same address, new generation)")
            t0 = time.monotonic()
            procs[victim] = await spawn(victim, ports[victim], seed)
            back = await wait_until(
                lambda: observer.agents.get(primary) is not None
                and observer.agents[primary].status is AgentStatus.ACTIVE, 10)
            await asyncio.sleep(0.05)
            print(f"✓ PrimaryAgent ACTIVE again after {time.monotonic() - t0:.2f} s: {back}")
            for other in ("prod_runtime_2", "prod_runtime_3"):
                async with http.get(f"http://127.0.0.1:{ports[other]}/v1/agents/{primary}") as r:
                    print(f"  ({other} sees PrimaryAgent as {(await r.json())['status']})")

        section("Manual Status Change:")
        print("✗ Marking PrimaryAgent as UNHEALTHY")
        await observer.update_agent_status(primary, AgentStatus.UNHEALTHY)
        await wait_until(lambda: observer.agents[primary].status is AgentStatus.UNHEALTHY, 3)
        await asyncio.sleep(0.05)
        print("✓ Recovering PrimaryAgent (marking as ACTIVE)")
        await observer.update_agent_status(primary, AgentStatus.ACTIVE)
        await wait_until(lambda: observer.agents[primary].status is AgentStatus.ACTIVE, 3)
        await asyncio.sleep(0.05)
        print("\nAgent Status After Recovery:")
        for m in sorted(observer.agents.values(), key=lambda m: m.runtime_id):
            print(f"  - {m.name}: {m.status.value}")
        healthy = await observer.find_agents_by_capability("task processing")
        print(f"\n✓ {len(healthy)} healthy agents available for 'task processing'")
    finally:
        for p in procs.values():
            if p.returncode is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                await asyncio.wait_for(p.wait(), 5)
            except TimeoutError:
                os.killpg(p.pid, signal.SIGKILL)
        await observer.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
