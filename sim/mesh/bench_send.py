"""The send half of ``python -m sim.bench.select``: real sockets on 127.0.0.1.

One gossip node (no peers) in this process and small a2a-sdk agents (JSON-RPC, uvicorn), each
in a process of its own (``python -m sim.mesh.bench_send serve``), so the agent's server does
not share the caller's event loop.

Overhead: the median of ``GossipNode.send`` to the agent against the median of the same
message sent directly with one a2a-sdk client (created once, its httpx client reused), one
run, the two alternating which goes first (the a2a-sdk server answers a request sooner right
after another one: neither side gets that for free). Failover: ``send(agent_ids=[dead,
alive])`` where the first agent's server is gone, the breakers reset before each repeat, the
median time to the answer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import sys
import time
from typing import Any

import httpx
import uvicorn
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.agent_execution import AgentExecutor
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import Role, SendMessageRequest
from starlette.applications import Starlette

from gossipreg import GossipNode, NodeConfig

__all__ = ["run"]


class _Echo(AgentExecutor):
    async def execute(self, context: Any, event_queue: Any) -> None:
        await event_queue.enqueue_event(new_text_message("ok: " + context.get_user_input(),
                                                         role=Role.ROLE_AGENT))

    async def cancel(self, context: Any, event_queue: Any) -> None:
        return None


def _card(url: str) -> dict[str, Any]:
    return {"name": "Echo", "description": "echo", "version": "1", "capabilities": {},
            "defaultInputModes": ["text"], "defaultOutputModes": ["text"],
            "supportedInterfaces": [{"url": url, "protocolBinding": "JSONRPC",
                                     "protocolVersion": "1.0"}],
            "skills": [{"id": "echo", "name": "echo", "description": "echo",
                        "tags": ["echo"]}]}


async def _serve() -> tuple[str, uvicorn.Server, asyncio.Task[None]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/a2a"
    handler = DefaultRequestHandlerV2(_Echo(), InMemoryTaskStore(),
                                      parse_agent_card(_card(url)))
    app = Starlette(routes=create_jsonrpc_routes(handler, "/a2a"))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return url, server, task


async def _spawn() -> tuple[str, asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim.mesh.bench_send", "serve", stdout=asyncio.subprocess.PIPE,
        start_new_session=True)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return line.decode().strip(), proc


async def _main(sends: int, repeats: int) -> None:
    url, proc = await _spawn()
    dead_url, dead = await _spawn()
    node = await GossipNode("bench", config=NodeConfig.local()).start()
    try:
        node.register(agent_id="echo", card=_card(url))
        node.register(agent_id="dead", card=_card(dead_url))
        os.killpg(dead.pid, signal.SIGKILL)
        await dead.wait()
        async with httpx.AsyncClient(timeout=None) as http:
            client = ClientFactory(ClientConfig(httpx_client=http, streaming=False)).create(
                parse_agent_card(_card(url)))
            direct, via = [], []

            async def one_direct(i: int) -> float:
                t0 = time.perf_counter()
                async for _ in client.send_message(SendMessageRequest(
                        message=new_text_message(f"m{i}", role=Role.ROLE_USER))):
                    pass
                return time.perf_counter() - t0

            async def one_via(i: int) -> float:
                t0 = time.perf_counter()
                await node.send(agent_ids=["echo"], message=f"m{i}")
                return time.perf_counter() - t0

            for i in range(sends + 20):  # the first 20 warm up; the order alternates
                if i % 2:
                    d_, v_ = await one_direct(i), await one_via(i)
                else:
                    v_, d_ = await one_via(i), await one_direct(i)
                if i >= 20:
                    direct.append(d_)
                    via.append(v_)
        d, v = statistics.median(direct) * 1e3, statistics.median(via) * 1e3
        print(f"\nsend overhead ({sends} sends, medians): direct a2a-sdk {d:.3f} ms, "
              f"GossipNode.send {v:.3f} ms, ratio {v / d:.2f}")
        times = []
        for _ in range(repeats):
            node.router.breakers.success("dead")
            t0 = time.perf_counter()
            res = await node.send(agent_ids=["dead", "echo"], message="x", deadline=10)
            times.append(time.perf_counter() - t0)
            assert res.agent_id == "echo" and res.attempts[0].outcome == "unreachable"
        print(f"failover after an agent died (connection refused, {repeats} repeats): "
              f"median {statistics.median(times) * 1e3:.3f} ms to the backup's answer, "
              f"max {max(times) * 1e3:.3f} ms")
    finally:
        await node.shutdown()
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
        await proc.wait()


async def _serve_forever() -> None:
    url, _, task = await _serve()
    print(url, flush=True)
    await task


def run(sends: int, repeats: int) -> None:
    """Print the send figures (see the module docstring)."""
    asyncio.run(_main(sends, repeats))


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    asyncio.run(_serve_forever())
