"""Small real A2A agents for the select/send tests: a2a-sdk servers (JSON-RPC, A2A 1.0 or 0.3)
on 127.0.0.1, port 0, served by uvicorn in the test's own loop. Each answers
``"<name>: <text>"``, counts what it served (message ids included), can be told to answer
500 or to stall, and can be killed (its socket closed: later connections are refused)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from tests.support import need_a2a_module

uvicorn = need_a2a_module("uvicorn")
starlette_apps = need_a2a_module("starlette.applications")
starlette_responses = need_a2a_module("starlette.responses")
routes = need_a2a_module("a2a.server.routes")
handlers = need_a2a_module("a2a.server.request_handlers")
tasks = need_a2a_module("a2a.server.tasks")
execution = need_a2a_module("a2a.server.agent_execution")
helpers = need_a2a_module("a2a.helpers.proto_helpers")
pb = need_a2a_module("a2a.types.a2a_pb2")


@dataclass
class Agent:
    name: str
    url: str = ""
    version: str = "1.0"
    streaming: bool = False
    mode: str = "ok"  # "ok", "500", "stall"
    served: list[str] = field(default_factory=list)  # message ids, in order
    server: Any = None
    task: asyncio.Task[None] | None = None
    sock: socket.socket | None = None

    def card(self, skills: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
        sk = [{"id": i, "name": n, "description": n, "tags": t} for i, n, t in skills]
        if self.version == "0.3":
            return {"name": self.name, "description": f"{self.name} agent", "version": "1",
                    "url": self.url, "protocolVersion": "0.3.0",
                    "preferredTransport": "JSONRPC",
                    "capabilities": {"streaming": self.streaming},
                    "defaultInputModes": ["text"], "defaultOutputModes": ["text"],
                    "skills": sk}
        return {"name": self.name, "description": f"{self.name} agent", "version": "1",
                "supportedInterfaces": [{"url": self.url, "protocolBinding": "JSONRPC",
                                         "protocolVersion": "1.0"}],
                "capabilities": {"streaming": self.streaming},
                "defaultInputModes": ["text"], "defaultOutputModes": ["text"], "skills": sk}

    async def kill(self) -> None:
        """Stop serving at once: the listening socket closes, connections are refused."""
        if self.server is not None:
            self.server.should_exit = True
            self.server.force_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        self.task = None


class _Executor(execution.AgentExecutor):  # type: ignore[misc]
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    async def execute(self, context: Any, event_queue: Any) -> None:
        text = context.get_user_input()
        self.agent.served.append(context.message.message_id)
        answer = f"{self.agent.name}: {text}"
        if not self.agent.streaming:
            await event_queue.enqueue_event(helpers.new_text_message(answer,
                                                                     role=pb.Role.ROLE_AGENT))
            return
        task = helpers.new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        for i, word in enumerate(answer.split()):
            await event_queue.enqueue_event(helpers.new_text_artifact_update_event(
                task.id, task.context_id, "answer", word + " ", append=i > 0,
                artifact_id="a1"))
        await event_queue.enqueue_event(helpers.new_text_status_update_event(
            task.id, task.context_id, pb.TaskState.TASK_STATE_COMPLETED, answer))

    async def cancel(self, context: Any, event_queue: Any) -> None:
        return None


async def start_agent(name: str, *, version: str = "1.0", streaming: bool = False,
                      port: int = 0) -> Agent:
    """Serve a new agent (``port`` to come back on the same address after a kill)."""
    agent = Agent(name, version=version, streaming=streaming)
    return await serve(agent, port)


async def serve(agent: Agent, port: int = 0) -> Agent:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    agent.url = agent.url or f"http://127.0.0.1:{sock.getsockname()[1]}/a2a"
    card = pb.AgentCard(name=agent.name, description="test", version="1",
                        supported_interfaces=[pb.AgentInterface(
                            url=agent.url, protocol_binding="JSONRPC", protocol_version="1.0")],
                        capabilities=pb.AgentCapabilities(streaming=agent.streaming),
                        default_input_modes=["text"], default_output_modes=["text"],
                        skills=[pb.AgentSkill(id="any", name="any", description="any",
                                              tags=["any"])])
    handler = handlers.DefaultRequestHandlerV2(_Executor(agent), tasks.InMemoryTaskStore(), card)
    rpc = routes.create_jsonrpc_routes(handler, "/a2a", enable_v0_3_compat=True)

    async def gate(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and agent.mode != "ok":
            if agent.mode == "stall":
                await asyncio.sleep(30)
            resp = starlette_responses.Response("boom", status_code=500)
            await resp(scope, receive, send)
            return
        await app(scope, receive, send)

    app = starlette_apps.Starlette(routes=rpc)
    config = uvicorn.Config(gate, log_level="error", lifespan="off")
    agent.server = uvicorn.Server(config)
    agent.task = asyncio.create_task(agent.server.serve(sockets=[sock]))
    for _ in range(500):
        if agent.server.started:
            break
        await asyncio.sleep(0.01)
    return agent
