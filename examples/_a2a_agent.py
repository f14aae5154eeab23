"""A small real A2A agent for the pattern scripts: an a2a-sdk server (JSON-RPC, A2A 1.0) on
127.0.0.1 served by uvicorn inside the runtime's own event loop. It answers each message with
its agent's LLM (or says the LLM step was skipped). ``stop()`` closes it (connections are then
refused) and ``start()`` brings it back on the same port.

Needs the a2a-sdk with its HTTP server and uvicorn: ``pip install -e '.[test]'``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.agent_execution import AgentExecutor
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Role,
)
from starlette.applications import Starlette

Answer = Callable[[str], Awaitable[str]]


class _Executor(AgentExecutor):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    async def execute(self, context: Any, event_queue: Any) -> None:
        text = await self.answer(context.get_user_input())
        await event_queue.enqueue_event(new_text_message(text, role=Role.ROLE_AGENT))

    async def cancel(self, context: Any, event_queue: Any) -> None:
        return None


class A2AServer:
    """One agent's A2A endpoint at ``url``."""

    def __init__(self, name: str, skills: list[str], answer: Answer, port: int) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}/a2a"
        self.card = {
            "name": name, "description": f"{name}: " + ", ".join(skills), "version": "1.0",
            "supportedInterfaces": [{"url": self.url, "protocolBinding": "JSONRPC",
                                     "protocolVersion": "1.0"}],
            "capabilities": {}, "defaultInputModes": ["text"], "defaultOutputModes": ["text"],
            "skills": [{"id": s.replace(" ", "-"), "name": s, "description": s,
                        "tags": s.split()} for s in skills]}
        sdk_card = AgentCard(
            name=name, description=self.card["description"], version="1.0",
            supported_interfaces=[AgentInterface(url=self.url, protocol_binding="JSONRPC",
                                                 protocol_version="1.0")],
            capabilities=AgentCapabilities(), default_input_modes=["text"],
            default_output_modes=["text"],
            skills=[AgentSkill(id=s.replace(" ", "-"), name=s, description=s, tags=s.split())
                    for s in skills])
        handler = DefaultRequestHandlerV2(_Executor(answer), InMemoryTaskStore(), sdk_card)
        self.app = Starlette(routes=create_jsonrpc_routes(handler, "/a2a"))
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="error",
                                                     lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = self._server.force_exit = True
            await self._task
        self._server = self._task = None
