"""Bounded waits for the real-network tests (one helper, shared by every test module).

A wait polls a predicate until it holds or ``timeout`` seconds pass and then reports the
predicate's last answer; the tests assert on that answer, never on how long the wait took.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import IO, Any

import pytest

POLL_S = 0.02


async def until(pred: Callable[[], bool], timeout: float = 8.0) -> bool:
    """Await ``pred()`` becoming true within ``timeout`` seconds (polled on the event loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(POLL_S)
    return bool(pred())


async def until_awaited(pred: Callable[[], Awaitable[bool]], timeout: float = 8.0) -> bool:
    """``until`` for a predicate that awaits (HTTP reads of a node served on this loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(POLL_S)
    return bool(await pred())


def until_blocking(pred: Callable[[], bool], timeout: float = 8.0,
                   errors: tuple[type[BaseException], ...] = (OSError,)) -> bool:
    """``until`` for tests without a loop (driving other processes); ``errors`` raised by the
    predicate count as "not yet" (a process still starting refuses connections)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return True
        except errors:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (for a process that binds it itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(addr: str, path: str) -> Any:
    """``GET http://addr/path`` as JSON (blocking: for tests that drive processes)."""
    return http_json(f"http://{addr}{path}")


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """GET ``url`` (or POST ``body`` as JSON) and decode the JSON answer (a bounded request)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def require_netns(what: str) -> None:
    """Skip the calling test module, with one line, when emulated hosts cannot be built here
    (root, iproute2 and nftables are needed); under CI the same is a failure."""
    from sim.mesh import netns

    why = netns.missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} need root, iproute2 and nftables under CI: {why}", pytrace=False)
    pytest.skip(f"{what} skipped: {why}", allow_module_level=True)


def need_a2a_module(module: str) -> Any:
    """A module of the a2a-sdk test extra: missing under CI is a failure, elsewhere a skip."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason="a2a-sdk missing: pip install -e '.[test]'")


class PipeLines:
    """The lines a process writes to a pipe, collected as they come (for ``until_blocking``)."""

    def __init__(self, pipe: IO[str] | None) -> None:
        assert pipe is not None
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: IO[str]) -> None:
        for text in pipe:
            self.lines.append(text.rstrip("\n"))

    def having(self, part: str) -> list[str]:
        """The lines so far that contain ``part``."""
        return [x for x in list(self.lines) if part in x]
