"""Helpers of the embedder tests: a stand-in embedding server and the semantic-extra check."""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

INSTALL = "pip install 'gossipreg[semantic]'"


def need_semantic(module: str, *, module_level: bool = False) -> Any:
    """Import ``module`` of the semantic extra; skip with one line if it is absent (a whole test
    module with ``module_level``), but fail under CI (CI=true), where the test extra must have
    installed it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {module!r} (the semantic extra) is not installed: {INSTALL}")
        pytest.skip(f"the semantic extra is not installed ({module!r} missing): {INSTALL}",
                    allow_module_level=module_level)


def text_vector(text: str, dims: int) -> list[float]:
    """A deterministic vector for ``text``: bytes of its SHA-256 chain mapped to [-1, 1]."""
    out: list[float] = []
    block = text.encode()
    while len(out) < dims:
        block = hashlib.sha256(block).digest()
        out += [(b - 127.5) / 127.5 for b in block]
    return out[:dims]


@dataclass
class StandIn:
    """Speaks Ollama's ``POST /api/embed`` and OpenAI's ``POST /v1/embeddings`` (vectors from
    :func:`text_vector`) and records each request as ``(api, body, authorization)``.

    ``fault`` makes the next answers go wrong: ``status`` (an API error), ``count`` (one vector
    too few), ``nan``, ``huge`` (600 dimensions), ``ignore_dims`` (the full size whatever was
    asked), ``shuffle`` (OpenAI items in reverse order, with their indices), ``index`` (OpenAI
    items whose indices repeat).
    """

    dims: int = 8
    fault: str | None = None
    requests: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def _vectors(self, body: dict[str, Any]) -> list[list[float]]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = self.dims
        if body.get("dimensions") and self.fault != "ignore_dims":
            size = int(body["dimensions"])
        if self.fault == "huge":
            size = 600
        vectors = [text_vector(t, size) for t in texts]
        if self.fault == "count":
            vectors = vectors[:-1]
        if self.fault == "nan":
            vectors[0][0] = float("nan")
        return vectors

    async def ollama(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("ollama", body, request.headers.get("Authorization", "")))
        if self.fault == "status":
            return web.json_response(
                {"error": f"model \"{body['model']}\" not found, try pulling it first"},
                status=404)
        return web.json_response({
            "model": body["model"], "embeddings": self._vectors(body),
            "total_duration": 1, "load_duration": 1, "prompt_eval_count": 1})

    async def openai(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("openai", body, request.headers.get("Authorization", "")))
        if self.fault == "status":
            return web.json_response({"error": {
                "message": "Incorrect API key provided", "type": "invalid_request_error",
                "param": None, "code": "invalid_api_key"}}, status=401)
        items = [{"object": "embedding", "index": i, "embedding": v}
                 for i, v in enumerate(self._vectors(body))]
        if self.fault == "shuffle":
            items.reverse()
        if self.fault == "index":
            items[-1]["index"] = 0
        return web.json_response({
            "object": "list", "data": items, "model": body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}})


@asynccontextmanager
async def serve(stand_in: StandIn) -> AsyncIterator[str]:
    """Run ``stand_in`` on 127.0.0.1 (a free port); yields its base URL."""
    app = web.Application()
    app.router.add_post("/api/embed", stand_in.ollama)
    app.router.add_post("/v1/embeddings", stand_in.openai)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
