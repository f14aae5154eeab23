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

__all__ = ["TWO_WORKERS_SUPPORTED", "ParallelLink", "in_shard"]

TWO_WORKERS_SUPPORTED = platform.machine().lower() in ("x86_64", "amd64") and hasattr(os, "fork")

_Q = struct.Struct("q")
_D = struct.Struct("d")
# Per worker a header of three 8-byte fields, each written by one worker only:
_COUNT, _TAKEN, _CLOCK = 0, 8, 16  # its sub-windows published, the other's taken, its clock
_HEAD = 24
_SLOT_HEAD = struct.Struct("qd")  # per slot: length of the data (-1: in the pipe), start time


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
            _D.pack_into(shm, worker * cls._span() + _CLOCK, float("-inf"))
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
        _D.pack_into(self.shared, self._mine + _CLOCK, now)

    def publish(self, start: float, end: float, packets: list[Any]) -> None:
        """Hand over the packets my nodes sent in the sub-window (``start``, ``end``]."""
        if self._published - self._their_taken() >= self._SLOTS:  # my next slot is unread
            self._until(lambda: self._published - self._their_taken() < self._SLOTS)
        data = pickle.dumps(packets, protocol=pickle.HIGHEST_PROTOCOL)
        shm, at = self.shared, self._slot(self._mine, self._published)
        piped = len(data) > self._SLOT
        if not piped:
            shm[at + _SLOT_HEAD.size:at + _SLOT_HEAD.size + len(data)] = data
        _SLOT_HEAD.pack_into(shm, at, -1 if piped else len(data), start)
        self._published += 1
        self._clock = end
        _Q.pack_into(shm, self._mine + _COUNT, self._published)
        _D.pack_into(shm, self._mine + _CLOCK, end)
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
        return int(_Q.unpack_from(self.shared, self._theirs + _TAKEN)[0])

    def _copy(self) -> None:
        """Copy out what the other has published since the last look, and say so."""
        shm, theirs = self.shared, self._theirs
        (clock,) = _D.unpack_from(shm, theirs + _CLOCK)  # the clock first (see the class)
        (count,) = _Q.unpack_from(shm, theirs + _COUNT)
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
        _Q.pack_into(shm, self._mine + _TAKEN, self._read)

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
