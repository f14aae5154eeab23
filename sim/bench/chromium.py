"""A headless chromium driven through the DevTools protocol over aiohttp's websocket client (no
browser download, no new dependency): the page's browser test and its benchmark use it.

    async with Chromium.launch() as browser:
        page = await browser.page()
        await page.navigate("http://127.0.0.1:8080/ui")
        rows = await page.eval("document.querySelectorAll('#members tbody tr').length")
        await page.screenshot(Path("shot.png"))

The browser runs as root with ``--no-sandbox`` in a fresh profile directory, on loopback only
(networking, updates and sync off); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["CHROMIUM", "Chromium", "Page", "chromium_missing"]

CHROMIUM = os.environ.get("GOSSIPREG_CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


def chromium_missing() -> str | None:
    """Why no browser can be started here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


class Page:
    """One tab: commands, the events it sent, and the page's console errors and exceptions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []  # exceptions, console errors, CSP reports
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
                continue
            self.events.append(data)
            self._note(data)
            self._changed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the browser closed the connection"))

    def _note(self, ev: dict[str, Any]) -> None:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(p.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            self.errors.append(p["entry"].get("text", ""))

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Run one DevTools command; its result (raises on a protocol error)."""
        i = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[i] = fut
        await self._ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        out = await asyncio.wait_for(fut, timeout)
        if "error" in out:
            raise RuntimeError(f"{method}: {out['error']}")
        result: dict[str, Any] = out.get("result", {})
        return result

    async def wait_event(self, method: str, timeout: float = 30.0, after: int = 0
                         ) -> dict[str, Any]:
        """The first event ``method`` from index ``after`` of :attr:`events` on."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[after:]:
                if ev.get("method") == method:
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Load ``url`` and wait for its load event."""
        mark = len(self.events)
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired", timeout, after=mark)

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        out = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression[:80]}: {out['exceptionDetails']}")
        return out.get("result", {}).get("value")

    async def until(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll a JavaScript expression until it is truthy (its last value after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expression)
            if value or time.monotonic() >= deadline:
                return value
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path, scale: float = 1.0,
                         height: float | None = None) -> int:
        """Save the page as a PNG (its top ``height`` CSS pixels, or all of it; scaled by
        ``scale``); its size in bytes."""
        m = await self.send("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        h = size["height"] if height is None else min(height, size["height"])
        clip = {"x": 0, "y": 0, "width": size["width"], "height": h, "scale": scale}
        out = await self.send("Page.captureScreenshot", format="png", clip=clip,
                              captureBeyondViewport=True)
        data = base64.b64decode(out["data"])
        path.write_bytes(data)
        return len(data)

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


class Chromium:
    """A headless chromium process (use :meth:`launch`)."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, profile: str,
                 session: aiohttp.ClientSession) -> None:
        self.proc, self.port, self.profile, self.session = proc, port, profile, session
        self.pages: list[Page] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, width: int = 1280, height: int = 900,
                     timeout: float = 30.0) -> AsyncIterator[Chromium]:
        """Start the browser, yield it, and stop it (its profile directory removed)."""
        profile = tempfile.mkdtemp(prefix="gossipreg-chromium-")
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
            "about:blank", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        browser: Chromium | None = None
        try:
            port = await _devtools_port(Path(profile), proc, timeout)
            browser = cls(proc, port, profile, session)
            yield browser
        finally:
            if browser is not None:
                for p in browser.pages:
                    await p.close()
            await session.close()
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            shutil.rmtree(profile, ignore_errors=True)

    async def page(self, width: int = 1280, height: int = 900) -> Page:
        """The browser's first tab, with page, runtime, log and network events on."""
        async with self.session.get(f"http://127.0.0.1:{self.port}/json/list") as r:
            targets = await r.json()
        target = next(t for t in targets if t.get("type") == "page")
        ws = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        self.pages.append(page)
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        return page


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process,
                         timeout: float) -> int:
    """The port chromium chose (it writes it to DevToolsActivePort in its profile)."""
    deadline = time.monotonic() + timeout
    f = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        if f.exists():
            first = f.read_text().split("\n", 1)[0].strip()
            if first.isdigit():
                return int(first)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"chromium did not open its DevTools port within {timeout} s")
