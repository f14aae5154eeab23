"""The link between the two workers of a parallel simulator run.

Rules: the nodes are split between two processes by a hash of their names (the same split in
both). No packet crosses between the halves in less than ``latency_min`` virtual seconds (the
lookahead), so a worker may run up to ``t`` once it holds every packet the other sent before
``t - latency_min``: a conservative parallel simulation. Each worker runs in sub-windows
shorter than the lookahead (see ``sim.run``) and publishes each one's packets with its end (its
clock); the other waits for that clock only when it would otherwise run ahead of it by the
whole lookahead. So a worker may run ahead of the other by part of the lookahead, and a
sub-window that is costly on one side does not stop the other at once (lockstep windows of the
whole lookahead left each worker waiting a fifth of a 1,000-node run). Which packets a worker
takes before each sub-window depends only on virtual times, never on which process is ahead,
so a run is the same whatever the timing. Both processes play the same plan.
"""

from __future__ import annotations

import mmap
import os
import pickle
import platform
import struct
import zlib
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["TWO_WORKERS_SUPPORTED", "Header", "ParallelLink", "in_shard"]

TWO_WORKERS_SUPPORTED = platform.machine().lower() in ("x86_64", "amd64") and hasattr(os, "fork")

_HEAD = 24  # bytes of a worker's header (see Header)
_SLOT_HEAD = struct.Struct("qd")  # per slot: length of the data (-1: in the pipe), start time


class Header:
    """One worker's header in the shared memory, three 8-byte words, each written by one
    worker only: how many sub-windows it published, how many of the other's it took, and its
    clock. Each word is read and written whole (through memoryviews cast to one 8-byte type),
    never with ``struct.pack_into``: that zeroes its target before it writes the value, so the
    other process could read a count of 0 in between and take a newer clock without the
    sub-window that clock ends (a packet then came late, about once per 300,000
    sub-windows)."""

    _COUNT, _TAKEN, _CLOCK = 0, 1, 2  # word indexes

    def __init__(self, shared: mmap.mmap, offset: int) -> None:
        self._ints = memoryview(shared).cast("q")
        self._floats = memoryview(shared).cast("d")
        self._at = offset // 8

    def publish(self, count: int, clock: float) -> None:
        """Say that ``count`` sub-windows are published, then that the clock is ``clock``."""
        self._ints[self._at + self._COUNT] = count
        self._floats[self._at + self._CLOCK] = clock

    def published(self) -> tuple[float, int]:
        """The clock, then the count: a clock read never covers a sub-window not counted
        (x86 keeps stores, and loads, in program order)."""
        clock = self._floats[self._at + self._CLOCK]
        return clock, self._ints[self._at + self._COUNT]

    def set_clock(self, clock: float) -> None:
        self._floats[self._at + self._CLOCK] = clock

    @property
    def taken(self) -> int:
        return self._ints[self._at + self._TAKEN]

    @taken.setter
    def taken(self, n: int) -> None:
        self._ints[self._at + self._TAKEN] = n


class ParallelLink:
    """The other worker of a two-process run.

    ``publish`` and ``due`` run once per sub-window (hundreds of thousands of times), so they
    go through shared memory: each worker writes a sub-window's pickled packets into the next
    of ``_SLOTS`` slots of its own, then its count, then its clock; the other reads the clock
    first and the count second, so a clock it sees never covers a slot it has not seen (x86
    keeps stores, and loads, in program order). It copies the slots out as soon as it sees
    them and counts them taken, which frees them, and hands the packets to its cluster when its
    own time needs them. A waiting worker spins. ``swap`` (rare, large: the setup's deltas, the
    checks, the figures) goes through a pipe, worker 0 sending first, once both have reached
    the same time.
    """

    _SLOTS = 32
    _SLOT = 2 << 20  # bytes per slot; a bigger sub-window travels through the pipe

    def __init__(self, conn: Connection, shared: mmap.mmap, index: int, other: int) -> None:
        self.conn = conn
        self.shared = shared
        self.index = index
        self.other = other  # the other worker's pid
        self.other_status: int | None = None  # worker 1's exit status, if it was seen to end
        self._mine = index * self._span()  # where my header is
        self._theirs = (1 - index) * self._span()
        self._me = Header(shared, self._mine)
        self._other = Header(shared, self._theirs)
        self._published = 0  # my sub-windows published
        self._read = 0  # the other's sub-windows copied out
        self._clock = float("-inf")  # the end of my last published sub-window
        self._their_clock = float("-inf")  # the same of the other's, as last read
        self._held: deque[tuple[float, list[Any]]] = deque()  # theirs, copied, not handed over
        self._lookahead = 0.0

    def _check_other(self) -> None:
        """Raise if the other worker is gone (or it would be waited for forever)."""
        if self.index == 0:
            pid, status = os.waitpid(self.other, os.WNOHANG)
            if pid:
                self.other_status = status
                raise RuntimeError("simulator worker 1 failed (its traceback is above)")
        elif os.getppid() != self.other:
            raise RuntimeError("simulator worker 0 is gone")

    @classmethod
    def shared_memory(cls) -> mmap.mmap:
        """The memory both workers share (made before the fork): per worker a header, then
        its slots (anonymous: pages are only touched as slots fill)."""
        shm = mmap.mmap(-1, 2 * cls._span())
        for worker in (0, 1):
            Header(shm, worker * cls._span()).set_clock(float("-inf"))
        return shm

    @classmethod
    def _span(cls) -> int:
        return _HEAD + cls._SLOTS * (_SLOT_HEAD.size + cls._SLOT)

    def _slot(self, header: int, n: int) -> int:
        return header + _HEAD + (n % self._SLOTS) * (_SLOT_HEAD.size + self._SLOT)

    def start(self, now: float, lookahead: float) -> None:
        """Open the link at ``now`` (both workers, at the same time, before any sub-window);
        no packet takes less than ``lookahead`` to cross."""
        self._clock = now
        self._lookahead = lookahead
        self._me.set_clock(now)

    def publish(self, start: float, end: float, packets: list[Any]) -> None:
        """Hand over the packets my nodes sent in the sub-window (``start``, ``end``]."""
        if self._published - self._their_taken() >= self._SLOTS:  # my next slot is unread
            self._until(lambda: self._published - self._their_taken() < self._SLOTS)
        data = pickle.dumps(packets, protocol=pickle.HIGHEST_PROTOCOL)
        shm, at = self.shared, self._slot(self._mine, self._published)
        piped = len(data) > self._SLOT
        if not piped:
            shm[at + _SLOT_HEAD.size:at + _SLOT_HEAD.size + len(data)] = data
        # (pack_into may zero the slot's head first: it is read only once the count says so)
        _SLOT_HEAD.pack_into(shm, at, -1 if piped else len(data), start)
        self._published += 1
        self._clock = end
        self._me.publish(self._published, end)
        if piped:  # after the count: the other reads the pipe once it sees the slot
            self.conn.send_bytes(data)

    def due(self, end: float) -> list[Any]:
        """Every packet of the other's that can arrive by ``end``: those of its sub-windows
        from whose start one lookahead does not reach past ``end``, once its clock is where a
        lookahead does (nothing it sends from then on arrives by ``end``). Float sums are
        monotonic, so ``clock + lookahead`` bounds every arrival it computes as a send time
        plus a delay of at least the lookahead."""
        la = self._lookahead
        self._copy()
        if self._their_clock + la <= end:
            self._until(lambda: self._their_clock + la > end)
        out: list[Any] = []
        held = self._held
        while held and held[0][0] + la <= end:
            out.extend(held.popleft()[1])
        return out

    def _their_taken(self) -> int:
        return self._other.taken

    def _copy(self) -> None:
        """Copy out what the other has published since the last look, and say so."""
        shm, theirs = self.shared, self._theirs
        clock, count = self._other.published()
        self._their_clock = clock
        if count == self._read:
            return
        held = self._held
        while self._read < count:
            at = self._slot(theirs, self._read)
            n, start = _SLOT_HEAD.unpack_from(shm, at)
            body = (shm[at + _SLOT_HEAD.size:at + _SLOT_HEAD.size + n] if n >= 0
                    else self.conn.recv_bytes())
            held.append((start, pickle.loads(body)))
            self._read += 1
        self._me.taken = self._read

    def _until(self, ready: Callable[[], bool]) -> None:
        """Spin, copying out what the other publishes (which may be what it waits for), until
        ``ready()``; yield the core after a while (it may be shared); raise if the other is
        gone."""
        spins = 0
        while True:
            self._copy()
            if ready():
                return
            spins += 1
            if spins > 2000:  # the other is slow (or the cores are shared): stop burning ours
                os.sched_yield()
                if spins % 10_000 == 0:
                    self._check_other()

    def swap(self, mine: Any) -> Any:
        """Exchange ``mine`` for the other's (both at the same time: a barrier, after which
        the pipe carries nothing else)."""
        self._copy()
        if self._their_clock < self._clock:
            self._until(lambda: self._their_clock >= self._clock)
        try:
            if self.index == 0:
                self.conn.send(mine)
                return self.conn.recv()
            theirs = self.conn.recv()
            self.conn.send(mine)
            return theirs
        except (EOFError, ConnectionError) as e:
            raise RuntimeError("the other simulator worker failed (its traceback is above)") \
                from e


def in_shard(name: str, shard: int) -> bool:
    """Which of the two workers runs a node: a hash of its name (even, and the same in both)."""
    return zlib.crc32(name.encode()) % 2 == shard
