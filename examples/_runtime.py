"""One runtime process for pattern 3: a gossip node hosting agents and heartbeating them; each
agent is a real A2A endpoint (an a2a-sdk server on 127.0.0.1, ``_a2a_agent.py``) registered
with its card, answering through the LLM when one is configured. SIGUSR1 stops the agents'
A2A servers (the runtime stays up and keeps heartbeating: the registry still says ACTIVE),
SIGUSR2 starts them again on the same ports.

    python _runtime.py --name NAME --bind 127.0.0.1:PORT --join HOST:PORT --agents JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

from _a2a_agent import A2AServer
from _llm import detect
from _mesh import Agent, node_config

from gossipreg import AgentRegistry, AgentRegistryConfig


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--join", action="append", default=[])
    ap.add_argument("--agents", required=True,
                    help='[{"id":..,"name":..,"capabilities":[..],"port":..}]')
    ap.add_argument("--heartbeat", type=float, default=0.5, help="seconds between heartbeats")
    args = ap.parse_args()
    llm, _ = await detect()
    config = AgentRegistryConfig(heartbeat_timeout=3.0, auto_deregister_timeout=60.0)
    registry = AgentRegistry(config, node_config=node_config(), name=args.name, bind=args.bind,
                             seeds=args.join)
    specs = json.loads(args.agents)
    agents = {a["id"]: Agent(a["name"], a["capabilities"], llm=llm) for a in specs}

    def answerer(agent: Agent):  # type: ignore[no-untyped-def]
        async def answer(task: str) -> str:
            text = await agent.run(task)
            return f"[{args.name}] " + (text if text is not None
                                        else "[skipped: no LLM configured]")
        return answer

    servers = {a["id"]: A2AServer(a["name"], a["capabilities"], answerer(agents[a["id"]]),
                                  a["port"]) for a in specs}
    for server in servers.values():
        await server.start()
    await registry.start()
    for aid, agent in agents.items():
        await registry.register_agent(agent, args.name, agent_id=aid, card=servers[aid].card,
                                      capabilities=agent.capabilities)
    print(f"ready {registry.node.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for sig, action in ((signal.SIGUSR1, "stop"), (signal.SIGUSR2, "start")):
        loop.add_signal_handler(sig, lambda a=action: [asyncio.ensure_future(
            getattr(s, a)()) for s in servers.values()])
    while not stop.is_set():
        for aid in agents:
            await registry.update_agent_heartbeat(aid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.heartbeat)
    for server in servers.values():
        await server.stop()
    await registry.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
