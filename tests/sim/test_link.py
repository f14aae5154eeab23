"""The two workers' hand-over (sim.link) between real processes."""

from __future__ import annotations

import os
from collections.abc import Callable
from multiprocessing import Pipe

import pytest

from sim.link import TWO_WORKERS_SUPPORTED, Header, ParallelLink

pytestmark = pytest.mark.skipif(not TWO_WORKERS_SUPPORTED, reason="two workers need x86-64")


def _in_child(body: Callable[[], None]) -> int:
    """Fork, run ``body`` in the child, and return the child's pid (it exits 0, or 1 if
    ``body`` raised)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def test_a_published_clock_is_never_read_without_its_count() -> None:
    """One process publishes count i and clock i, over and over; the other reads clock, then
    count, as fast as it can, and never sees a count below the clock. (Written with
    ``struct.pack_into``, which zeroes a field before writing it, this read a count of 0
    thousands of times in the same run.)"""
    shared = ParallelLink.shared_memory()
    writes = 2_000_000

    def write() -> None:
        header = Header(shared, 0)
        for i in range(1, writes + 1):
            header.publish(i, float(i))

    pid = _in_child(write)
    header, torn, clock, reads = Header(shared, 0), 0, 0.0, 0
    while clock < writes:
        clock, count = header.published()
        torn += count < clock
        reads += 1
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert reads > 1_000  # (it read while the other wrote)
    assert torn == 0


LOOKAHEAD = 1.0
WINDOWS = 60_000


def test_every_packet_is_handed_over_in_time_once_and_in_order() -> None:
    """Worker 1 publishes sub-windows, each with a packet that arrives as early as the
    lookahead allows; worker 0 takes what is due before each of its own."""
    ours, theirs = Pipe()
    shared = ParallelLink.shared_memory()
    parent = os.getpid()

    def publish() -> None:  # worker 1: never waits for worker 0's clock
        ours.close()
        link = ParallelLink(theirs, shared, 1, parent)
        link.start(0.0, LOOKAHEAD)
        for i in range(WINDOWS):
            start = i * 0.5
            link.publish(start, start + 0.5, [(start + LOOKAHEAD, "n0", i)])

    pid = _in_child(publish)
    theirs.close()
    link = ParallelLink(ours, shared, 0, pid)
    link.start(0.0, LOOKAHEAD)
    now, seen, late = 0.0, [], []
    for i in range(WINDOWS):
        end = (i + 1) * 0.5
        for when, _, n in link.due(end):
            if when < now:
                late.append((n, when, now))
            seen.append(n)
        now = end
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert late == []
    assert seen == list(range(WINDOWS - 1))  # the last one arrives after the last end
