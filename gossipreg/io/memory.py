"""Giving a node's free C heap back to the system.

A node's start allocates and frees a lot (imports, pydantic building its models, the first
requests); glibc keeps the freed pages unless the top of the heap is free. ``malloc_trim``
returns every whole free page (~0.5 MB after a node's start, measured in docs/measured.md), in
~0.1 ms. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from typing import Any

__all__ = ["TRIM_PERIOD", "trim_heap", "trim_heap_every"]

TRIM_PERIOD = 60.0  # seconds between trims of a running node
_trim: list[Any] = []


def trim_heap() -> bool:
    """Return the C heap's free pages to the system; whether anything was returned (False
    where there is no glibc)."""
    if not _trim:
        try:
            fn = ctypes.CDLL(None).malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _trim.append(fn)
    fn = _trim[0]
    return bool(fn(0)) if fn is not None else False


async def trim_heap_every(period: float = TRIM_PERIOD) -> None:
    """:func:`trim_heap` now and every ``period`` seconds, until cancelled."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            trim_heap()
            await asyncio.sleep(period)
