"""The memory figures a node exports on ``/metrics`` (the soak samples them next to RSS to
tell Python objects from the C allocator's own growth) follow what is allocated."""

from __future__ import annotations

import ctypes.util
import gc

import pytest

from gossipreg.io.memory import malloc_figures, python_figures


def test_python_figures_count_new_objects() -> None:
    # No collection meanwhile: one would free the garbage earlier tests left (in a whole
    # suite run, ~9,000 objects once) and hide the lists made here.
    gc.disable()
    try:
        before = python_figures()
        held = [[i] for i in range(20_000)]  # 20k tracked lists, 20k blocks at least
        after = python_figures()
    finally:
        gc.enable()
    assert after["gc_objects"] - before["gc_objects"] >= 19_000
    assert after["allocated_blocks"] - before["allocated_blocks"] >= 19_000
    del held


@pytest.mark.skipif(not ctypes.util.find_library("c"), reason="no C library to ask")
def test_malloc_figures_follow_c_allocations() -> None:
    before = malloc_figures()
    if not before:
        pytest.skip("no mallinfo2 (glibc < 2.33 or another libc)")
    assert before["in_use"] + before["free"] == before["arena"]  # glibc's own invariant
    held = [bytes(64 * 1024) for _ in range(32)]  # below the mmap threshold: the arenas
    after = malloc_figures()
    assert after["in_use"] - before["in_use"] >= 32 * 64 * 1024
    del held
