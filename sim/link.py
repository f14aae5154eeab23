"""The link between the two workers of a parallel simulator run.

Rules: the nodes are split between two processes by a hash of their names (the same split in
both); packets cross between the halves only at the end of windows of ``latency_min`` virtual
seconds, which no packet can cross in less, so each half always has every packet due to it
before it gets there (a conservative parallel simulation). Both processes play the same plan.
"""

from __future__ import annotations

import mmap
import os
import pickle
import platform
import struct
import zlib
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["TWO_WORKERS_SUPPORTED", "ParallelLink", "in_shard"]

TWO_WORKERS_SUPPORTED = platform.machine().lower() in ("x86_64", "amd64") and hasattr(os, "fork")


class ParallelLink:
    """The other worker of a two-process run.

    ``step`` runs once per window (hundreds of thousands of times), so it goes through shared
    memory: each worker writes its pickled packets into one of two slots of its own and then
    publishes a sequence number, and spins until the other's number comes. A worker writes a
    slot again only two steps later, when the other has already read it. ``swap`` (rare, large:
    the setup's deltas, the checks, the figures) goes through a pipe, worker 0 sending first.
    """

    _SLOT = 8 << 20  # bytes per slot; a bigger step travels through the pipe

    def __init__(self, conn: Connection, shared: mmap.mmap, index: int, other: int) -> None:
        self.conn = conn
        self.shared = shared
        self.index = index
        self.other = other  # the other worker's pid
        self.other_status: int | None = None  # worker 1's exit status, if it was seen to end
        self._steps = 0

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
        # Per worker: its sequence number, then two slots of (length, data).
        return mmap.mmap(-1, 2 * (8 + 2 * (8 + cls._SLOT)))

    def _base(self, worker: int) -> int:
        return worker * (8 + 2 * (8 + self._SLOT))

    def step(self, mine: Any) -> Any:
        shm, slot = self.shared, self._SLOT
        self._steps += 1
        k = self._steps
        data = pickle.dumps(mine, protocol=pickle.HIGHEST_PROTOCOL)
        at = self._base(self.index) + 8 + (k % 2) * (8 + slot)
        if len(data) <= slot:
            shm[at + 8:at + 8 + len(data)] = data
            struct.pack_into("q", shm, at, len(data))
        else:
            struct.pack_into("q", shm, at, -1)
            self.conn.send_bytes(data)
        theirs = self._base(1 - self.index)
        struct.pack_into("q", shm, self._base(self.index), k)  # publish (x86 keeps the order)
        spins = 0
        while struct.unpack_from("q", shm, theirs)[0] < k:
            spins += 1
            if spins > 2000:  # the other is slow (or the cores are shared): stop burning ours
                os.sched_yield()
                if spins % 10_000 == 0:
                    self._check_other()
        at = theirs + 8 + (k % 2) * (8 + slot)
        (n,) = struct.unpack_from("q", shm, at)
        return pickle.loads(shm[at + 8:at + 8 + n] if n >= 0 else self.conn.recv_bytes())

    def swap(self, mine: Any) -> Any:
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
