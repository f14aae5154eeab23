"""Pattern 2: capability discovery and event-driven coordination.

Specialized agents on three runtimes (real gossip nodes over HTTP on 127.0.0.1). An observer
subscribes to events, sees runtimes join and leave, and answers capability queries from its
local replica — the index makes them sub-linear, concurrent searches never touch the network.
"""

from __future__ import annotations

import asyncio
import time

from _llm import detect
from _mesh import Agent, print_event, section, shutdown, start_mesh, wait_until

from gossipreg import AgentStatus, RegistryEventType

AGENTS = {
    "dev_runtime_1": [
        Agent("PythonExpert", ["Python code generation and debugging"],
              "Writes and fixes Python services"),
        Agent("JavaScriptExpert", ["JavaScript and frontend development"],
              "Builds browser front ends"),
    ],
    "analytics_runtime_2": [
        Agent("DataScientist", ["Statistical analysis and machine learning"],
              "Models data, trains and evaluates predictors"),
    ],
    "ops_runtime_3": [
        Agent("DevOpsEngineer", ["Kubernetes deployment", "CI/CD pipelines"],
              "Keeps clusters running; on call for incidents"),
    ],
}
TASKS = [
    ("Python code generation", "python"),
    ("JavaScript development", "javascript"),
    ("Machine learning model", "machine learning"),
    ("Deploy to Kubernetes", "kubernetes"),
    # Only a description mentions incidents; kaizen matches capabilities only, and so does
    # find_agents_by_capability. The description is in the agent card, searched below.
    ("Handle an incident", "incident"),
]


async def main() -> None:
    llm, llm_line = await detect()
    print(llm_line)
    regs = await start_mesh(["observer", *AGENTS])
    observer = regs["observer"]
    seen: list[RegistryEventType] = []

    def on_event(ev) -> None:  # type: ignore[no-untyped-def]
        seen.append(ev.event_type)
        print_event(ev)

    for kind in list(RegistryEventType)[:6]:
        observer.subscribe(kind, on_event)
    try:
        section("Registering Specialized Agents...")
        ids = {}
        for runtime, agents in AGENTS.items():
            for agent in agents:
                agent.llm = llm
                ids[agent.name] = await regs[runtime].register_agent(agent, runtime)
        await wait_until(lambda: seen.count(RegistryEventType.AGENT_REGISTERED) == len(ids), 5)
        print(f"\n✓ Registered {len(ids)} specialized agents across {len(AGENTS)} runtimes")

        section("Capability-Based Agent Discovery (indexed, answered on the observer):")
        for task, query in TASKS:
            print(f"Task: '{task}'\n  Query: '{query}'")
            t = time.perf_counter()
            found = await observer.find_agents_by_capability(query)
            us = (time.perf_counter() - t) * 1e6
            if not found:
                by_card = [m for m in observer.agents.values()
                           if query in (m.description or "").lower()]
                print(f"  ✗ No capability matches ({us:.0f} µs): capability search looks at "
                      f"capabilities only, as in kaizen.")
                for m in by_card:
                    print(f"  ✓ Found by description instead: {m.name} ({m.description}) "
                          f"on {m.runtime_id}")
            for m in found:
                print(f"  ✓ Found: {m.name} in {us:.0f} µs\n    - Capability: "
                      f"{m.capabilities[0]}\n    - Runtime: {m.runtime_id}")
                agent = next(a for agents in AGENTS.values() for a in agents
                             if a.name == m.name)
                answer = await agent.run(task)
                print(f"    - Answer: "
                      f"{answer if answer is not None else '[skipped: no LLM configured]'}")
            print()

        section("Status-Based Filtering:")
        py = ids["PythonExpert"]
        await regs["dev_runtime_1"].update_agent_status(py, AgentStatus.DEGRADED)
        await wait_until(lambda: observer.agents[py].status is AgentStatus.DEGRADED, 3)
        await asyncio.sleep(0.05)
        print("✓ Marked PythonExpert as DEGRADED")
        for label, flt in (("ACTIVE", AgentStatus.ACTIVE), ("DEGRADED", AgentStatus.DEGRADED),
                           ("no status", None)):
            found = await observer.find_agents_by_capability("python", status_filter=flt)
            noun = "total" if flt is None else label
            print(f"\nSearching for 'python' with {label} filter:\n  Found {len(found)} "
                  f"{noun} agents")

        section("Concurrent Capability Searches:")
        queries = [q for _, q in TASKS] * 40
        t = time.perf_counter()
        results = await asyncio.gather(*(observer.find_agents_by_capability(q, None)
                                         for q in queries))
        dt = time.perf_counter() - t
        print(f"✓ {len(queries)} concurrent searches in {dt * 1e3:.1f} ms "
              f"({dt / len(queries) * 1e6:.0f} µs each, no network hop); "
              f"{sum(len(r) for r in results)} hits")

        section("Runtime Join/Leave Events:")
        ops = regs["ops_runtime_3"]
        print("ops_runtime_3 deregisters its agent, then leaves the mesh gracefully")
        await ops.deregister_agent(ids["DevOpsEngineer"], "ops_runtime_3")
        await wait_until(lambda: RegistryEventType.RUNTIME_LEFT in seen, 3)
        await asyncio.sleep(0.05)
        await ops.shutdown()
        del regs["ops_runtime_3"]
        print(f"\n✓ Observer saw {seen.count(RegistryEventType.RUNTIME_JOINED)} RUNTIME_JOINED "
              f"and {seen.count(RegistryEventType.RUNTIME_LEFT)} RUNTIME_LEFT events")
    finally:
        await shutdown(regs)


if __name__ == "__main__":
    asyncio.run(main())
