"""LLM backends for the example agents: Ollama (``llama3.2:1b``) or OpenAI (``gpt-5-nano``).

``detect()`` probes quickly and returns a backend, or None with the reason in one line. Nothing
here fakes an answer: without a backend the caller marks the LLM step as skipped.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

__all__ = ["Backend", "detect", "load_dotenv"]

OLLAMA_MODEL = os.environ.get("OLLAMA_MODEL", "llama3.2:1b")
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-5-nano")


def load_dotenv() -> None:
    """Read ``KEY=value`` lines from a .env in the examples folder or the cwd (no override)."""
    for path in (Path(__file__).with_name(".env"), Path.cwd() / ".env"):
        if path.is_file():
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, _, value = line.partition("=")
                    os.environ.setdefault(key.strip(), value.strip().strip("'\""))


class Backend:
    """One way to run a prompt."""

    def __init__(self, name: str, model: str, client: object) -> None:
        self.name = name
        self.model = model
        self._client = client

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"

    async def complete(self, prompt: str, timeout: float = 60.0) -> str:
        if self.name == "ollama":
            resp = await asyncio.wait_for(self._client.chat(  # type: ignore[attr-defined]
                model=self.model, messages=[{"role": "user", "content": prompt}]), timeout)
            return str(resp["message"]["content"]).strip()
        resp = await asyncio.wait_for(
            self._client.chat.completions.create(  # type: ignore[attr-defined]
                model=self.model, messages=[{"role": "user", "content": prompt}]), timeout)
        return str(resp.choices[0].message.content or "").strip()


async def _ollama() -> tuple[Backend | None, str]:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    try:
        import ollama
    except ImportError:
        return None, "the ollama package is not installed (pip install -e '.[llm]')"
    client = ollama.AsyncClient(host=host, timeout=60)
    try:
        listing = await asyncio.wait_for(client.list(), 2.0)
    except Exception as e:  # connection refused, timeout, bad answer: all mean "not here"
        return None, f"Ollama not reachable at {host} ({type(e).__name__})"
    names = {m.model for m in listing.models}
    if OLLAMA_MODEL not in names:
        return None, f"Ollama at {host} has no {OLLAMA_MODEL} (ollama pull {OLLAMA_MODEL})"
    return Backend("ollama", OLLAMA_MODEL, client), f"Ollama at {host}"


async def _openai() -> tuple[Backend | None, str]:
    if not os.environ.get("OPENAI_API_KEY"):
        return None, "no OPENAI_API_KEY"
    try:
        import openai
    except ImportError:
        return None, "the openai package is not installed (pip install -e '.[llm]')"
    client = openai.AsyncOpenAI(base_url=os.environ.get("OPENAI_BASE_URL") or None,
                                timeout=60.0, max_retries=0)
    try:
        await asyncio.wait_for(client.models.retrieve(OPENAI_MODEL), 3.0)
    except Exception as e:
        return None, f"OpenAI not usable ({type(e).__name__})"
    return Backend("openai", OPENAI_MODEL, client), "OpenAI"


async def detect() -> tuple[Backend | None, str]:
    """The first usable backend (Ollama, then OpenAI) and a one-line description."""
    load_dotenv()
    ollama_backend, why_not_ollama = await _ollama()
    if ollama_backend is not None:
        return ollama_backend, f"LLM: {ollama_backend} at {why_not_ollama.split(' at ')[-1]}"
    openai_backend, why_not_openai = await _openai()
    if openai_backend is not None:
        return openai_backend, f"LLM: {openai_backend}"
    return None, (f"LLM: none reachable ({why_not_ollama}; {why_not_openai}) — "
                  "agent tasks will be marked as skipped")
