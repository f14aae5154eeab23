"""``gossipreg node --join-timeout``: wait for a seed's answer, or say why there was none."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gossipreg.io.runner import NodeRunner

__all__ = ["wait_for_join"]


async def wait_for_join(node: NodeRunner, timeout: float | None, stop: asyncio.Event) -> bool:
    """False (after printing why) when a seed refused us, or none answered within ``timeout``
    seconds; True once joined, or when ``stop`` is set first. Without a timeout only a
    refusal ends the wait early."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        core = node.core
        if core.join_refused:
            print(f"gossipreg: join refused: {core.join_refused}", file=sys.stderr, flush=True)
            return False
        if core.joined or stop.is_set():
            if core.joined and node.seeds:
                print(f"gossipreg node {node.name} joined the mesh", flush=True)
            return True
        if deadline is not None and time.monotonic() >= deadline:
            print(f"gossipreg: no seed answered within {timeout:g} s: "
                  f"{node.join_watch.describe()}", file=sys.stderr, flush=True)
            return False
        await asyncio.sleep(0.05)
