"""One runtime process for pattern 3: a gossip node hosting agents, heartbeating them, and
running their tasks (``POST /tasks/{agent_id}`` on the node's own HTTP server) through the LLM
when one is configured.

    python _runtime.py --name NAME --bind 127.0.0.1:PORT --join HOST:PORT --agents JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal

from _llm import detect
from _mesh import Agent, node_config
from aiohttp import web

from gossipreg import AgentRegistry, AgentRegistryConfig


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--join", action="append", default=[])
    ap.add_argument("--agents", required=True, help='[{"id":..,"name":..,"capabilities":[..]}]')
    ap.add_argument("--heartbeat", type=float, default=0.5, help="seconds between heartbeats")
    args = ap.parse_args()
    llm, _ = await detect()
    config = AgentRegistryConfig(heartbeat_timeout=3.0, auto_deregister_timeout=60.0)
    registry = AgentRegistry(config, node_config=node_config(), name=args.name, bind=args.bind,
                             seeds=args.join)
    agents = {a["id"]: Agent(a["name"], a["capabilities"], llm=llm)
              for a in json.loads(args.agents)}

    async def run_task(request: web.Request) -> web.Response:
        agent = agents.get(request.match_info["agent_id"])
        if agent is None:
            return web.json_response({"error": "no such agent here"}, status=404)
        task = (await request.json()).get("task", "")
        answer = await agent.run(str(task))
        return web.json_response({"agent": agent.name, "runtime": args.name,
                                  "answer": answer, "skipped": answer is None})

    registry.node.transport.app.router.add_post("/tasks/{agent_id}", run_task)  # type: ignore[attr-defined]
    await registry.start()
    for aid, agent in agents.items():
        await registry.register_agent(agent, args.name, agent_id=aid)
    print(f"ready {registry.node.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        for aid in agents:
            await registry.update_agent_heartbeat(aid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.heartbeat)
    await registry.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
