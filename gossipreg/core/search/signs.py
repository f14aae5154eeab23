"""Sign codes of vector rows: Hamming distances to a query's, and the distance that admits a
given number of rows (numpy only; used by :meth:`~gossipreg.core.search.vecindex.VectorIndex.pool`).

Rules:
- A row's sign code is its signs packed in bits (a set bit: a negative component), stored a
  64-bit word per line (``words × rows``, each word's line contiguous).
- Distances are exact small integers (at most the dimension count, plus a dead row's mark),
  whatever the order the rows are read in: they depend on the codes alone.
- Per query the work is a pass over each word line, in blocks of :data:`BLOCK` rows through
  fixed scratch buffers: no array of the index's size is allocated per query (the distances
  go into a buffer the caller keeps).
- The chosen distance (:func:`kth_distance`) is the least distance at or below which at
  least ``k`` rows lie, counted with a histogram (distances are small integers), not a sort.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BLOCK", "Pool", "Scratch", "kth_distance"]

#: Rows of a word line read at a time (the scratch: 9 bytes per row of it).
BLOCK = 16_384


class Scratch:
    """The buffers of one index's distance pass (reused by every query)."""

    def __init__(self, np: Any) -> None:
        self._np = np
        self._xor = np.empty(BLOCK, dtype=np.uint64)
        self._count = np.empty(BLOCK, dtype=np.uint8)
        self._table: Any = None if hasattr(np, "bitwise_count") else np.array(
            [bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def distances(self, bits: Any, query: Any, out: Any) -> Any:
        """``out[i]``: the Hamming distance of column ``i`` of ``bits`` (words × rows, uint64)
        to ``query`` (words, uint64), for the ``len(out)`` first rows (``out``: uint16)."""
        np = self._np
        n = len(out)
        qwords = [np.uint64(q) for q in query.tolist()]
        for lo in range(0, n, BLOCK):
            hi = min(n, lo + BLOCK)
            o, x, c = out[lo:hi], self._xor[:hi - lo], self._count[:hi - lo]
            for w, q in enumerate(qwords):
                np.bitwise_xor(bits[w, lo:hi], q, out=x)
                if self._table is None:
                    np.bitwise_count(x, out=c)
                else:  # numpy < 2: a byte table
                    c[:] = self._table[x.view(np.uint8)].reshape(-1, 8).sum(axis=1)
                if w:
                    np.add(o, c, out=o)
                else:
                    np.copyto(o, c)
        return out


def kth_distance(np: Any, dist: Any, k: int) -> int:
    """The least distance ``d`` such that at least ``k`` (>= 1) of ``dist`` are ``<= d``."""
    return int(np.searchsorted(np.cumsum(np.bincount(dist)), k))


class Pool:
    """A query's pool (:meth:`~gossipreg.core.search.vecindex.VectorIndex.pool`): the agents
    ``ids`` with their exact best dot products ``dots`` (an int64 array, in the same order),
    and ``edge``, the best dot product among the rows at the pool's farthest sign distance
    (farther rows are expected to score less)."""

    __slots__ = ("dots", "edge", "ids")

    def __init__(self, ids: list[str], dots: Any, edge: int) -> None:
        self.ids = ids
        self.dots = dots
        self.edge = edge

    def __len__(self) -> int:
        return len(self.ids)
