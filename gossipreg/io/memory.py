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
import gc
import sys
from typing import Any

__all__ = ["TRIM_PERIOD", "malloc_figures", "python_figures", "trim_heap", "trim_heap_every"]

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


class _Mallinfo2(ctypes.Structure):
    # glibc >= 2.33's ``struct mallinfo2``: every field a size_t.
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_mallinfo: list[Any] = []


def malloc_figures() -> dict[str, int]:
    """glibc's own account of the C heap (``mallinfo2``), in bytes: ``arena`` (non-mmap heap
    obtained from the system, every arena), ``in_use`` (allocated in it), ``free`` (free in it:
    fragmentation plus what a trim could return), ``mmap`` (blocks mmap'd on their own).
    Empty where there is no glibc >= 2.33. The diagnostic that tells allocator growth from
    Python objects growing, beside :func:`python_figures`."""
    if not _mallinfo:
        try:
            fn = ctypes.CDLL(None).mallinfo2
            fn.argtypes, fn.restype = [], _Mallinfo2
        except (OSError, AttributeError):
            fn = None
        _mallinfo.append(fn)
    fn = _mallinfo[0]
    if fn is None:
        return {}
    m = fn()
    return {"arena": m.arena, "in_use": m.uordblks, "free": m.fordblks, "mmap": m.hblkhd}


def python_figures() -> dict[str, int]:
    """The Python heap: blocks allocated by the interpreter (``sys.getallocatedblocks``) and
    objects the garbage collector tracks (``len(gc.get_objects())``: a walk of every tracked
    object, a few ms on a loaded node, so for scrapes, not hot paths)."""
    return {"allocated_blocks": sys.getallocatedblocks(), "gc_objects": len(gc.get_objects())}
