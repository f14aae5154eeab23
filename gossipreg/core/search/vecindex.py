"""Vector relevance by brute force: every agent's best integer dot product with a query's code.

Rules:
- One model: the index holds codes of one length for one model tag; whoever feeds it (the
  directory) hands it only codes of that model. An agent has 1..MAX_VECTORS codes, and its
  score for a query is the highest :func:`~gossipreg.core.search.vectors.dot` of the query's
  code with them: an exact integer, the same on every node that holds the same codes.
- With numpy importable the dot products are float32 matrix-vector products over blocks of
  rows. Every product and every partial sum is an integer of magnitude at most
  ``MAX_DIMS * 127**2 < 2**23``, which float32 holds exactly, so the result is exact in any
  summation order (any BLAS, any CPU) and equals the pure-Python fallback's integers.
- Incremental: a put appends an agent's rows (contiguous), a removal marks them dead; dead rows
  are compacted away once they outnumber the live ones (amortised O(1) per change). A query
  reads every live row once: O(rows × dims), no per-query rebuild.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterator, Sequence
from typing import Any

from gossipreg.core.search.vectors import MAX_DIMS, VectorError

_loaded: list[Any] = []  # [numpy or None], once looked for


def _numpy() -> Any:
    """numpy, an optional accelerator (a dependency of the semantic extra), or None. Imported
    when the first index is made, not with this module: a node whose search has no model never
    pays for it (numpy is about 15 MB of a process)."""
    if not _loaded:
        try:
            import numpy
        except ImportError:  # pragma: no cover - the fallback is forced in tests instead
            numpy = None  # type: ignore[assignment]
        _loaded.append(numpy)
    return _loaded[0]

__all__ = ["BLOCK_ROWS", "VectorIndex", "VectorScores", "numpy_available"]

_DEAD = -(1 << 62)  # the score of a dead segment: below any real one
#: Rows converted to float32 at a time (a query's scratch: BLOCK_ROWS × dims × 4 bytes).
BLOCK_ROWS = 1024


def numpy_available() -> bool:
    """Whether numpy is importable here (the index is faster with it, never different)."""
    return _numpy() is not None


class VectorIndex:
    """Codes per agent for one model; ``use_numpy`` None means "when importable"."""

    def __init__(self, dims: int, *, use_numpy: bool | None = None) -> None:
        if not 0 < dims <= MAX_DIMS:
            raise VectorError("dims", f"{dims} components, expected 1..{MAX_DIMS}")
        self.dims = dims
        self._np = _numpy() if use_numpy is not False else None
        if use_numpy and self._np is None:
            raise VectorError("type", "numpy is not importable")
        self._mat: Any = None  # numpy: (capacity, dims) int8; else a bytearray of rows
        self._buf = bytearray()
        self._cap = 0
        self._rows = 0
        self._dead = 0
        # Segments in row order: [start, count, agent id or None when dead, position]
        self._segs: list[list[Any]] = []
        self._seg_of: dict[str, list[Any]] = {}
        self._starts: Any = None  # numpy: each segment's first row, by position
        self._dead_pos: list[int] = []  # positions of dead segments (until compacted)
        self._scratch: Any = None

    def __len__(self) -> int:
        """The number of agents with codes."""
        return len(self._seg_of)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._seg_of

    @property
    def rows(self) -> int:
        """Live codes held (what a query reads)."""
        return self._rows - self._dead

    def nbytes(self) -> int:
        """Bytes of the code storage (capacity included)."""
        return self._cap * self.dims if self._mat is not None else len(self._buf)

    def codes(self, agent_id: str) -> tuple[bytes, ...]:
        """The codes held for an agent (empty when none)."""
        seg = self._seg_of.get(agent_id)
        if seg is None:
            return ()
        start, count = seg[0], seg[1]
        d = self.dims
        if self._mat is not None:
            return tuple(self._mat[i].tobytes() for i in range(start, start + count))
        return tuple(bytes(self._buf[i * d:(i + 1) * d]) for i in range(start, start + count))

    # ------------------------------------------------------------------ writes
    def put(self, agent_id: str, codes: Sequence[bytes]) -> None:
        """Hold ``codes`` (each ``dims`` bytes, from a checked VectorSet) for an agent,
        replacing what it had."""
        if not codes or any(len(c) != self.dims for c in codes):
            raise VectorError("dims", f"codes must be {self.dims} bytes each")
        self.remove(agent_id)
        start = self._rows
        self._append(codes)
        pos = len(self._segs)
        seg = [start, len(codes), agent_id, pos]
        self._segs.append(seg)
        self._seg_of[agent_id] = seg
        np = self._np
        if np is not None:
            st = self._starts
            if st is None or pos >= len(st):
                grown = np.zeros(max(64, 2 * pos), dtype=np.int64)
                if st is not None:
                    grown[:pos] = st[:pos]
                self._starts = st = grown
            st[pos] = start

    def _append(self, codes: Sequence[bytes]) -> None:
        n = len(codes)
        np = self._np
        if np is None:
            for c in codes:
                self._buf += c
        else:
            if self._rows + n > self._cap:
                cap = max(64, 2 * self._cap, self._rows + n)
                mat = np.zeros((cap, self.dims), dtype=np.int8)
                if self._mat is not None:
                    mat[:self._rows] = self._mat[:self._rows]
                self._mat, self._cap = mat, cap
            view = np.frombuffer(b"".join(codes), dtype=np.int8).reshape(n, self.dims)
            self._mat[self._rows:self._rows + n] = view
        self._rows += n

    def remove(self, agent_id: str) -> bool:
        """Forget an agent's codes; False when it had none."""
        seg = self._seg_of.pop(agent_id, None)
        if seg is None:
            return False
        seg[2] = None
        self._dead_pos.append(seg[3])
        self._dead += seg[1]
        if self._dead > max(256, self._rows - self._dead):
            self._compact()
        return True

    def _compact(self) -> None:
        live = [s for s in self._segs if s[2] is not None]
        d, np = self.dims, self._np
        if np is None:
            buf = bytearray()
            for s in live:
                buf += self._buf[s[0] * d:(s[0] + s[1]) * d]
            self._buf = buf
        else:
            keep = [range(s[0], s[0] + s[1]) for s in live]
            idx = np.fromiter((i for r in keep for i in r), dtype=np.int64)
            rows = len(idx)
            cap = max(64, rows * 2)
            mat = np.zeros((cap, d), dtype=np.int8)
            mat[:rows] = self._mat[idx]
            self._mat, self._cap = mat, cap
        row = 0
        for pos, s in enumerate(live):
            s[0], s[3] = row, pos
            row += s[1]
        self._segs, self._rows, self._dead = live, row, 0
        self._dead_pos = []
        if np is not None:
            self._starts = np.zeros(max(64, 2 * len(live)), dtype=np.int64)
            self._starts[:len(live)] = [s[0] for s in live]

    # ------------------------------------------------------------------ queries
    def scores(self, query: bytes) -> VectorScores:
        """Every agent's best dot product with ``query`` (exact integers; ``dot / 127**2`` is
        about the cosine), to be read by agent or above a floor."""
        if len(query) != self.dims:
            raise VectorError("dims", f"{len(query)} components, expected {self.dims}")
        segs = self._segs
        np = self._np
        if np is None:
            q = memoryview(query).cast("b")
            rows = memoryview(self._buf).cast("b")
            d, mul = self.dims, operator.mul
            best = [max(sum(map(mul, q, rows[i:i + d]))
                        for i in range(s[0] * d, (s[0] + s[1]) * d, d)) if s[2] is not None
                    else _DEAD for s in segs]
            return VectorScores(segs, self._seg_of, best, None)
        q = np.frombuffer(query, dtype=np.int8).astype(np.float32)
        n = self._rows
        dots = np.empty(n, dtype=np.float32)
        if self._scratch is None:
            self._scratch = np.empty((BLOCK_ROWS, self.dims), dtype=np.float32)
        buf = self._scratch
        for lo in range(0, n, BLOCK_ROWS):  # int8 -> float32 in place, then one BLAS call
            hi = min(n, lo + BLOCK_ROWS)
            np.copyto(buf[:hi - lo], self._mat[lo:hi], casting="unsafe")
            np.matmul(buf[:hi - lo], q, out=dots[lo:hi])
        arr = (np.maximum.reduceat(dots, self._starts[:len(segs)]).astype(np.int64) if segs
               else np.zeros(0, dtype=np.int64))
        if self._dead_pos:
            arr[self._dead_pos] = _DEAD
        return VectorScores(segs, self._seg_of, arr, np)


class VectorScores:
    """One query's best dot product per agent (a snapshot: read it before the index changes)."""

    def __init__(self, segs: list[list[Any]], seg_of: dict[str, list[Any]], best: Any,
                 np: Any) -> None:
        self._segs = segs
        self._seg_of = seg_of
        self._best = best
        self._np = np

    def get(self, agent_id: str) -> int | None:
        """The agent's score, None when it has no codes."""
        seg = self._seg_of.get(agent_id)
        return None if seg is None else int(self._best[seg[3]])

    def count(self) -> int:
        """Agents with codes."""
        return len(self._seg_of)

    def top(self, m: int) -> tuple[list[tuple[str, int]], bool]:
        """The ``m`` best ``(agent id, score)`` (and every one that ties the m-th), and whether
        that is every agent with codes."""
        best = self._best
        n = len(best)
        if m >= len(self._seg_of):  # dead segments score _DEAD: live ones come first
            return list(self.above(_DEAD + 1)), True
        if self._np is None:
            kth = heapq.nlargest(m, best)[-1]
        else:
            kth = int(self._np.partition(best, n - m)[n - m])
        return list(self.above(kth)), False

    def above(self, floor: int) -> Iterator[tuple[str, int]]:
        """``(agent id, score)`` of every agent scoring ``floor`` or more, in row order."""
        segs, best = self._segs, self._best
        if self._np is None:
            for s, v in zip(segs, best, strict=True):
                if v >= floor and s[2] is not None:
                    yield s[2], v
            return
        idx = self._np.nonzero(best >= floor)[0].tolist()
        vals = best[idx].tolist()
        for i, v in zip(idx, vals, strict=True):
            aid = segs[i][2]
            if aid is not None:
                yield aid, v
