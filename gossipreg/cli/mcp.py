"""``gossipreg mcp --node HOST:PORT``: an MCP server on stdio (the official ``mcp`` SDK, the
``mcp`` extra) whose tools are a node's discovery, selection and send, so an LLM application
can find and use the mesh's agents.

Tools: ``find_agents`` (ranked search: ``POST /ard/v1/search``), ``select_agent`` (``POST
/v1/select``) and ``send_to_agent`` (``POST /v1/send``). Like every client command it talks
to the node's HTTP API (``--token``, ``--tls-ca``); the node's error message becomes the tool's
error, ``<message> (<code>)``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_mcp_parser", "build_server", "run_mcp"]


def add_mcp_parser(sub: Any) -> None:
    from gossipreg.cli.client import add_client_options

    q = sub.add_parser("mcp", help="serve a node's find/select/send as MCP tools on stdio")
    add_client_options(q)


def build_server(args: argparse.Namespace) -> Any:
    """The MCP server (``mcp.server.mcpserver.MCPServer``) for the node ``args.node``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError  # its message reaches the client

    from gossipreg.cli.client import ApiError, fetch

    server = MCPServer("gossipreg", instructions=(
        "Agents of a gossipreg mesh: find_agents to see who can do something, select_agent "
        "to rank them for a task, send_to_agent to deliver a task over A2A (with failover)."))

    async def call(method: str, path: str, body: dict[str, Any]) -> Any:
        try:  # a refusal reads as it does on the CLI: the node's message and its code
            return await fetch(args, method, path, body=body, ok=(200,))
        except ApiError as e:
            raise ToolError(f"{e.message} ({e.code})") from None

    @server.tool()
    async def find_agents(text: str, limit: int = 10,
                          tags: list[str] | None = None) -> list[dict[str, Any]]:
        """Agents of the mesh ranked for a need in words, best first: id, name, description,
        score (0-100), status, tags and endpoints."""
        query: dict[str, Any] = {"text": text}
        if tags:
            query["filter"] = {"tags": tags}
        data = await call("POST", "/ard/v1/search", {"query": query, "pageSize": limit})
        return [{"agent_id": r["metadata"]["agentId"], "name": r["displayName"],
                 "description": r.get("description", ""), "score": r["score"],
                 "status": r["metadata"]["status"], "tags": r.get("tags", []),
                 "endpoints": r["metadata"].get("endpoints", [])} for r in data["results"]]

    @server.tool()
    async def select_agent(text: str | None = None, capability: str | None = None,
                           agent_ids: list[str] | None = None, strategy: str = "best",
                           k: int = 3) -> list[dict[str, Any]]:
        """Rank agents for a task without sending anything: give the need as text, a
        capability, or agent ids; strategy best, round_robin, random or least_loaded. Each
        candidate has its endpoint, score, status, load and why it was chosen."""
        body = {k_: v for k_, v in (("text", text), ("capability", capability),
                                    ("agent_ids", agent_ids)) if v is not None}
        data = await call("POST", "/v1/select", {**body, "strategy": strategy, "k": k})
        candidates: list[dict[str, Any]] = data["candidates"]
        return candidates

    @server.tool()
    async def send_to_agent(message: str, text: str | None = None,
                            agent_id: str | None = None, strategy: str = "best",
                            deadline: float = 30.0, idempotent: bool = False
                            ) -> dict[str, Any]:
        """Send a task (message) over A2A to the agent best suited for the need in text, or
        to agent_id; fails over to the next agent when one is unreachable. Returns the agent
        that answered, its answer's text and every attempt."""
        body: dict[str, Any] = {"message": message, "strategy": strategy,
                                "deadline": deadline, "idempotent": idempotent}
        if agent_id is not None:
            body["agent_ids"] = [agent_id]
        if text is not None:
            body["text"] = text
        data = await call("POST", "/v1/send", body)
        return {"agent_id": data["agent_id"], "text": data["text"], "url": data["url"],
                "attempts": data["attempts"]}

    return server


def run_mcp(args: argparse.Namespace) -> int:
    """Serve until stdin closes; 2 when the ``mcp`` extra is missing."""
    try:
        server = build_server(args)
    except ImportError:
        print("gossipreg: the MCP server needs the mcp SDK: pip install 'gossipreg[mcp]'",
              file=sys.stderr)
        return 2
    args.timeout = max(args.timeout, 60.0)
    server.run("stdio")
    return 0
