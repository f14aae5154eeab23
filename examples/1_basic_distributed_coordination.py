"""Pattern 1: basic distributed coordination.

Three runtimes, each a real gossip node on 127.0.0.1 (over HTTP), plus an observer node:
agents registered on their own runtimes are discovered from another node, events arrive at the
observer, and the lifecycle (heartbeat, status change, deregistration) spreads mesh-wide.
"""

from __future__ import annotations

import asyncio
import time

from _llm import detect
from _mesh import Agent, print_event, section, shutdown, start_mesh, wait_until

from gossipreg import AgentStatus, RegistryEventType


async def main() -> None:
    llm, llm_line = await detect()
    print(llm_line)
    regs = await start_mesh(["observer", "runtime_1", "runtime_2"])
    observer = regs["observer"]
    for kind in list(RegistryEventType)[:6]:  # kaizen's six event types
        observer.subscribe(kind, print_event)
    try:
        section("Registering agents from different runtimes...")
        placed = {
            "runtime_1": [Agent("CodeAgent", ["code generation", "code review"], llm=llm),
                          Agent("DataAgent", ["data analysis", "statistics"], llm=llm)],
            "runtime_2": [Agent("WritingAgent", ["content writing", "editing"], llm=llm)],
        }
        ids: dict[str, str] = {}
        for runtime, agents in placed.items():
            for agent in agents:
                ids[agent.name] = await regs[runtime].register_agent(agent, runtime)
        await wait_until(lambda: len(observer.agents) == 3, 5)
        await asyncio.sleep(0.05)  # let the observer's event lines print first
        print(f"\n✓ Registered {len(ids)} agents across {len(placed)} runtimes:")
        for runtime, agents in placed.items():
            print(f"  {runtime.replace('_', ' ').title()}: "
                  f"{', '.join(a.name for a in agents)}")

        section("Runtime Distribution (as seen by the observer node):")
        for runtime, agent_ids in sorted(observer.runtime_agents.items()):
            print(f"{runtime}: {len(agent_ids)} agents")
            for aid in sorted(agent_ids):
                print(f"  - {observer.agents[aid].name} ({aid})")
            print()

        section("Cross-Runtime Capability Discovery:")
        for query in ("code generation", "data analysis", "content writing"):
            t = time.perf_counter()
            found = await regs["runtime_2"].find_agents_by_capability(query)
            us = (time.perf_counter() - t) * 1e6
            print(f"Searching for '{query}' (answered locally on runtime_2 in {us:.0f} µs):")
            print(f"  Found {len(found)} agents")
            for m in found:
                print(f"  - {m.name} on {m.runtime_id}")
            if found:
                task = f"In one sentence, what can you do for '{query}'?"
                answer = await placed_agent(placed, found[0].name).run(task)
                print(f"    task → {found[0].name}: "
                      f"{answer if answer is not None else '[skipped: no LLM configured]'}")
            print()

        section("Lifecycle: heartbeat, status change, deregistration")
        code_id = ids["CodeAgent"]
        print(f"Heartbeat for CodeAgent sent from runtime_2 (forwarded to its owner): "
              f"{await regs['runtime_2'].update_agent_heartbeat(code_id)}")
        await wait_until(lambda: observer.agents[code_id].heartbeat_count == 1, 3)
        print(f"Marking DataAgent DEGRADED from the observer: "
              f"{await observer.update_agent_status(ids['DataAgent'], AgentStatus.DEGRADED)}")
        await wait_until(lambda: regs["runtime_1"].agents[ids["DataAgent"]].status
                         is AgentStatus.DEGRADED, 3)
        print(f"  runtime_1 now sees DataAgent as "
              f"{regs['runtime_1'].agents[ids['DataAgent']].status.value}")
        print(f"Deregistering WritingAgent: "
              f"{await regs['runtime_2'].deregister_agent(ids['WritingAgent'], 'runtime_2')}")
        await wait_until(lambda: "runtime_2" not in observer.runtime_agents, 3)
        await asyncio.sleep(0.05)
        metrics = await observer.get_metrics()
        print(f"\n✓ Observer now sees {metrics['total_agents']} agents on "
              f"{metrics['total_runtimes']} runtime(s): {metrics['runtime_distribution']}")
    finally:
        await shutdown(regs)


def placed_agent(placed: dict[str, list[Agent]], name: str) -> Agent:
    return next(a for agents in placed.values() for a in agents if a.name == name)


if __name__ == "__main__":
    asyncio.run(main())
