"""Vector relevance by brute force: every agent's best integer dot product with a query's code.

Rules:
- One model: the index holds codes of one length for one model tag; whoever feeds it (the
  directory) hands it only codes of that model. An agent has 1..MAX_VECTORS codes, and its
  score for a query is the highest :func:`~gossipreg.core.search.vectors.dot` of the query's
  code with them: an exact integer, the same on every node that holds the same codes.
- With numpy importable the dot products are float32 matrix-vector products over blocks of
  rows (einsum: one thread, no BLAS pool). Every product and every partial sum is an integer
  of magnitude at most ``MAX_DIMS * 127**2 < 2**23``, which float32 holds exactly, so the
  result is exact in any summation order (any CPU) and equals the pure-Python fallback's.
- Incremental: a put appends an agent's rows (contiguous), a removal marks them dead; dead rows
  are compacted away once they outnumber the live ones (amortised O(1) per change). A query
  reads every live row once: O(rows × dims), no per-query rebuild.
- Sign codes (numpy only): beside each row, its signs packed in bits (``dims / 8`` bytes, an
  eighth of the row). :meth:`VectorIndex.pool` ranks every row by the Hamming distance of its
  signs to the query's (:mod:`~gossipreg.core.search.signs`: XOR and popcount over 64-bit
  words through fixed scratch buffers, no float conversion) and scores
  exactly only the agents owning the nearest rows: every agent with a row at or below the
  chosen distance (ties included, so the pool depends on the codes held, never on the order
  they came in, and converged nodes pick the same one). It is a prefilter: an agent whose
  signs are far but whose dot product is high can be missed (measured by the benchmark as
  agreement with the exact top ten).
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from gossipreg.core.search.signs import Pool, Scratch, kth_distance
from gossipreg.core.search.vectors import MAX_DIMS, VectorError, dot

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

__all__ = ["BLOCK_ROWS", "EXACT_ROWS", "NONE", "Pool", "VectorIndex", "VectorScores",
           "numpy_available"]

_DEAD = -(1 << 62)  # the score of a dead segment: below any real one
#: :meth:`VectorIndex.best_array`'s value for an agent without codes (below any real one).
NONE = _DEAD
_GONE = 1 << 12  # added to a dead row's Hamming distance: above any real one (<= MAX_DIMS)
#: Rows converted to float32 at a time (a query's scratch: BLOCK_ROWS × dims × 4 bytes).
BLOCK_ROWS = 1024
#: Up to this many live rows a top-k query scores every row exactly (for an index made
#: without ``exact_rows``, read at each query); above it, sign codes choose whom to score.
EXACT_ROWS = 8192


def numpy_available() -> bool:
    """Whether numpy is importable here (the index is faster with it, never different)."""
    return _numpy() is not None


def _matvec(np: Any, rows: Any, query: Any) -> Any:
    """numpy: int8 ``rows`` times an int8 ``query``, exact in float32 (see the rules), by
    einsum rather than BLAS: one thread, no thread pool to wake (a threaded BLAS spinning on
    a busy machine cost ten times the CPU of the product itself)."""
    return np.einsum("ij,j->i", rows.astype(np.float32), query.astype(np.float32))


class VectorIndex:
    """Codes per agent for one model; ``use_numpy`` None means "when importable"."""

    def __init__(self, dims: int, *, use_numpy: bool | None = None,
                 exact_rows: int | None = None) -> None:
        if not 0 < dims <= MAX_DIMS:
            raise VectorError("dims", f"{dims} components, expected 1..{MAX_DIMS}")
        self.dims = dims
        self.exact_rows = exact_rows
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
        self._counts: Any = None  # numpy: each segment's number of rows, by position
        self._ids: Any = None  # numpy: each segment's agent id (object), by position
        self._words = -(-dims // 64)  # 64-bit words of a row's sign code
        self._bits: Any = None  # numpy: (words, capacity) uint64 sign codes, a word per line
        self._gone: Any = None  # numpy: (capacity,) uint16, _GONE on a dead row
        self._dead_pos: list[int] = []  # positions of dead segments (until compacted)
        self._scratch: Any = None
        self._signs_scratch: Any = None  # numpy: signs.Scratch, and a uint16 distance per row
        self._ham: Any = None

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
        """Bytes of the code storage, sign codes included (capacity included)."""
        if self._mat is None:
            return len(self._buf)
        return self._cap * (self.dims + 8 * self._words + 2)

    @property
    def numpy(self) -> Any:
        """numpy when this index uses it, else None."""
        return self._np

    @property
    def prefilters(self) -> bool:
        """Whether a top-k query should take :meth:`pool` rather than score every row."""
        limit = EXACT_ROWS if self.exact_rows is None else self.exact_rows
        return self._np is not None and self.rows > limit

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
            st, ct, ids = self._starts, self._counts, self._ids
            if st is None or pos >= len(st):
                st = np.zeros(max(64, 2 * pos), dtype=np.int64)
                ct = np.zeros(len(st), dtype=np.int64)
                ids = np.empty(len(st), dtype=object)
                if self._starts is not None:
                    st[:pos] = self._starts[:pos]
                    ct[:pos] = self._counts[:pos]
                    ids[:pos] = self._ids[:pos]
                self._starts, self._counts, self._ids = st, ct, ids
            st[pos] = start
            ct[pos] = len(codes)
            ids[pos] = agent_id

    def _append(self, codes: Sequence[bytes]) -> None:
        n = len(codes)
        np = self._np
        if np is None:
            for c in codes:
                self._buf += c
        else:
            if self._rows + n > self._cap:
                self._grow(max(64, 2 * self._cap, self._rows + n), np.arange(self._rows))
            view = np.frombuffer(b"".join(codes), dtype=np.int8).reshape(n, self.dims)
            self._mat[self._rows:self._rows + n] = view
            self._bits[:, self._rows:self._rows + n] = self._signs(view).T
        self._rows += n

    def remove(self, agent_id: str) -> bool:
        """Forget an agent's codes; False when it had none."""
        seg = self._seg_of.pop(agent_id, None)
        if seg is None:
            return False
        seg[2] = None
        if self._gone is not None:
            self._gone[seg[0]:seg[0] + seg[1]] = _GONE
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
            self._grow(max(64, len(idx) * 2), idx)
        row = 0
        for pos, s in enumerate(live):
            s[0], s[3] = row, pos
            row += s[1]
        self._segs, self._rows, self._dead = live, row, 0
        self._dead_pos = []
        if np is not None:
            self._starts = np.zeros(max(64, 2 * len(live)), dtype=np.int64)
            self._starts[:len(live)] = [s[0] for s in live]
            self._counts = np.zeros(len(self._starts), dtype=np.int64)
            self._counts[:len(live)] = [s[1] for s in live]
            self._ids = np.empty(len(self._starts), dtype=object)
            self._ids[:len(live)] = [s[2] for s in live]

    def _grow(self, cap: int, keep: Any) -> None:
        """numpy: new storage of ``cap`` rows holding the rows ``keep`` (in order) first."""
        np: Any = self._np
        n = len(keep)
        mat = np.zeros((cap, self.dims), dtype=np.int8)
        bits = np.zeros((self._words, cap), dtype=np.uint64)
        gone = np.zeros(cap, dtype=np.uint16)
        if self._mat is not None and n:
            mat[:n] = self._mat[keep]
            bits[:, :n] = self._bits[:, keep]
            gone[:n] = self._gone[keep]
        self._mat, self._bits, self._gone, self._cap = mat, bits, gone, cap

    def _signs(self, rows: Any) -> Any:
        """numpy: the sign codes of int8 ``rows`` (a set bit: a negative component)."""
        np: Any = self._np
        packed = np.packbits(rows < 0, axis=1)
        out = np.zeros((len(rows), self._words * 8), dtype=np.uint8)
        out[:, :packed.shape[1]] = packed
        return out.view(np.uint64)

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
            np.einsum("ij,j->i", buf[:hi - lo], q, out=dots[lo:hi])
        arr = (np.maximum.reduceat(dots, self._starts[:len(segs)]).astype(np.int64) if segs
               else np.zeros(0, dtype=np.int64))
        if self._dead_pos:
            arr[self._dead_pos] = _DEAD
        return VectorScores(segs, self._seg_of, arr, np)

    def pool(self, query: bytes, rows: int) -> Pool | None:
        """The agents owning one of the ``rows`` live rows nearest ``query`` by sign code
        (ties at the farthest distance included), with their exact best dot products. None
        without numpy, or when ``rows`` takes every live row (then :meth:`scores` is the
        exact answer)."""
        np = self._np
        if np is None or rows >= self.rows:
            return None
        if len(query) != self.dims:
            raise VectorError("dims", f"{len(query)} components, expected {self.dims}")
        n = self._rows
        qv = np.frombuffer(query, dtype=np.int8)
        if self._signs_scratch is None:
            self._signs_scratch = Scratch(np)
        if self._ham is None or len(self._ham) < n:
            self._ham = np.empty(self._cap, dtype=np.uint16)
        ham = self._signs_scratch.distances(self._bits, self._signs(qv[None, :])[0],
                                            self._ham[:n])
        if self._dead:
            ham += self._gone[:n]
        kth = kth_distance(np, ham, rows)
        near = np.flatnonzero(ham <= kth)  # ascending rows, so ascending segment positions
        pos = np.searchsorted(self._starts[:len(self._segs)], near, side="right") - 1
        pos = pos[np.concatenate(([True], pos[1:] != pos[:-1]))]
        got, dots, first = self._dots(qv, pos)
        edge_rows = near[ham[near] == kth]  # all among the rows read: take their products
        edge = int(dots[np.searchsorted(got, edge_rows)].max())
        ids = self._ids[pos].tolist()  # live segments only: the pool holds no dead row
        return Pool(ids, np.maximum.reduceat(dots, first).astype(np.int64), edge)

    def best_of(self, query: bytes, agent_ids: Iterable[str]) -> dict[str, int]:
        """The exact best dot product of each given agent that has codes."""
        if len(query) != self.dims:
            raise VectorError("dims", f"{len(query)} components, expected {self.dims}")
        found = [seg for seg in map(self._seg_of.get, agent_ids) if seg is not None]
        np = self._np
        if np is None or len(found) < 4:
            return {seg[2]: max(dot(query, c) for c in self.codes(seg[2])) for seg in found}
        pos = np.fromiter((seg[3] for seg in found), dtype=np.int64, count=len(found))
        best = self._best(np.frombuffer(query, dtype=np.int8), pos)
        return {seg[2]: v for seg, v in zip(found, best.tolist(), strict=True)}

    def best_array(self, query: bytes, agent_ids: Sequence[str]) -> Any:
        """numpy: each agent's exact best dot product (int64), :data:`NONE` without codes."""
        np: Any = self._np
        seg_of = self._seg_of
        segs = [seg_of.get(a) for a in agent_ids]
        have = [i for i, s in enumerate(segs) if s is not None]
        out = np.full(len(segs), NONE, dtype=np.int64)
        if have:
            pos = np.fromiter((segs[i][3] for i in have), dtype=np.int64,  # type: ignore[index]
                              count=len(have))
            out[have] = self._best(np.frombuffer(query, dtype=np.int8), pos)
        return out

    def _best(self, qv: Any, pos: Any) -> Any:
        """numpy: the best dot product of each segment at positions ``pos`` (int64 array)."""
        np: Any = self._np
        _, dots, first = self._dots(qv, pos)
        return np.maximum.reduceat(dots, first).astype(np.int64)

    def _dots(self, qv: Any, pos: Any) -> tuple[Any, Any, Any]:
        """numpy: the rows of the segments at positions ``pos`` (ascending), their dot
        products with ``qv`` (float32, exact), and where each segment starts among them."""
        np: Any = self._np
        st, ct = self._starts[pos], self._counts[pos]
        first = np.cumsum(ct) - ct  # where each segment's rows start in the gathered block
        rows = np.repeat(st - first, ct) + np.arange(int(ct.sum()))
        return rows, _matvec(np, self._mat[rows], qv), first


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
