"""The examples' LLM path, end to end through the real ``ollama`` and ``openai`` client
libraries, against local stand-in servers that speak the Ollama chat API and the OpenAI chat
completions API (no model needed, nothing leaves 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

pytestmark = pytest.mark.network
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import _llm  # noqa: E402


class StandIn:
    """Records requests; answers like Ollama (/api/tags, /api/chat) and OpenAI
    (/v1/models/{id}, /v1/chat/completions)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    async def tags(self, request: web.Request) -> web.Response:
        self.requests.append(("tags", {}))
        return web.json_response({"models": [{
            "name": "llama3.2:1b", "model": "llama3.2:1b", "modified_at": "2026-01-01T00:00:00Z",
            "size": 1, "digest": "x", "details": {"format": "gguf", "family": "llama"}}]})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("chat", body))
        return web.json_response({
            "model": body["model"], "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "ollama stand-in answer"},
            "done": True, "done_reason": "stop"})

    async def model(self, request: web.Request) -> web.Response:
        self.requests.append(("model", {}))
        return web.json_response({"id": request.match_info["id"], "object": "model",
                                  "created": 0, "owned_by": "stand-in"})

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("completions", body))
        return web.json_response({
            "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "openai stand-in answer"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@pytest.fixture
async def server() -> AsyncIterator[tuple[StandIn, str]]:
    s = StandIn()
    app = web.Application()
    app.router.add_get("/api/tags", s.tags)
    app.router.add_post("/api/chat", s.chat)
    app.router.add_get("/v1/models/{id}", s.model)
    app.router.add_post("/v1/chat/completions", s.completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield s, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_ollama_backend_through_real_client(server: tuple[StandIn, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in, url = server
    monkeypatch.setenv("OLLAMA_HOST", url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend, line = await _llm.detect()
    assert backend is not None and backend.name == "ollama", line
    answer = await backend.complete("Say hi")
    assert answer == "ollama stand-in answer"
    kind, body = stand_in.requests[-1]
    assert kind == "chat" and body["model"] == "llama3.2:1b"
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


async def test_openai_backend_through_real_client(server: tuple[StandIn, str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    stand_in, url = server
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing there
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY=sk-test\nOPENAI_BASE_URL={url}/v1\n")
    backend, line = await _llm.detect()
    assert backend is not None and backend.name == "openai", line
    assert await backend.complete("Route this") == "openai stand-in answer"
    kind, body = stand_in.requests[-1]
    assert kind == "completions" and body["model"] == "gpt-5-nano"
    assert body["messages"][0]["content"] == "Route this"


def test_no_backend_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    import asyncio

    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    backend, line = asyncio.run(_llm.detect())
    assert backend is None and "\n" not in line and "skipped" in line


async def test_a_pattern_script_uses_the_llm(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["OLLAMA_HOST"] = url
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "1_basic_distributed_coordination.py", cwd=EXAMPLES, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert "LLM: ollama (llama3.2:1b)" in text
    assert "task → CodeAgent: ollama stand-in answer" in text
    assert any(k == "chat" for k, _ in stand_in.requests)
