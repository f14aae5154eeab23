"""Transmit-limited broadcast queue (the fast path of dissemination).

Each item is a packed message (packed once, framed as often as it is sent) under a replacement
key: queuing a newer message under the same key drops the older one (a newer write of a key, a
newer state of a member, the latest heartbeat). Items are handed out least-transmitted first,
newest first among equals (an item is as new as its last move to its count), and an item is
retired after ``limit`` transmissions, the limit being computed when items are taken so that it
follows the cluster size.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["BroadcastQueue"]


class _Item:
    __slots__ = ("meta", "packed", "tag")

    def __init__(self, tag: int, packed: bytes, meta: Any) -> None:
        self.tag = tag
        self.packed = packed
        self.meta = meta


class BroadcastQueue:
    """Broadcasts bucketed by how often they were sent: ``_buckets[k]`` holds the items sent
    ``k`` times, oldest first."""

    def __init__(self) -> None:
        self._buckets: list[dict[Hashable, _Item]] = [{}]
        self._where: dict[Hashable, _Item] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._where)

    def put(self, key: Hashable, tag: int, packed: bytes, meta: Any = None) -> None:
        """Queue the message ``packed`` (tagged ``tag``), replacing any item under ``key``;
        ``meta`` is kept beside it for :meth:`peek`."""
        self.discard(key)
        item = _Item(tag, packed, meta)
        self._where[key] = item
        self._buckets[0][key] = item
        self._bytes += len(packed)

    def peek(self, key: Hashable) -> Any:
        """The ``meta`` of the message queued under ``key`` (None if there is none)."""
        item = self._where.get(key)
        return None if item is None else item.meta

    def discard(self, key: Hashable) -> None:
        old = self._where.pop(key, None)
        if old is not None:
            self._bytes -= len(old.packed)
            for bucket in self._buckets:
                if bucket.pop(key, None) is not None:
                    break

    def take(self, budget: int, limit: int) -> list[tuple[int, bytes]]:
        """``(tag, packed)`` messages that fit in ``budget`` bytes; each taken one counts one
        transmission, and one sent ``limit`` times is retired."""
        if not self._where:
            return []
        buckets = self._buckets
        if self._bytes <= budget:
            # Everything fits (the usual case): every bucket moves up by one, no item moves.
            out = [(it.tag, it.packed) for b in buckets if b for it in reversed(b.values())]
            buckets.insert(0, {})
            self._retire_from(max(limit, 1))
            return out
        out = []
        taken: list[tuple[int, Hashable, _Item]] = []
        for k, bucket in enumerate(buckets):
            if budget <= 0:
                break
            for key, item in reversed(bucket.items()):
                size = len(item.packed)
                if size <= budget:
                    budget -= size
                    taken.append((k, key, item))
                    out.append((item.tag, item.packed))
                    if budget <= 0:
                        break
        for k, key, item in reversed(taken):  # oldest first: keeps their order in the next bucket
            del buckets[k][key]
            if len(buckets) == k + 1:
                buckets.append({})
            buckets[k + 1][key] = item
        self._retire_from(max(limit, 1))
        return out

    def _retire_from(self, limit: int) -> None:
        """Drop the items sent ``limit`` times or more."""
        buckets = self._buckets
        while len(buckets) > limit:
            for key, item in buckets.pop().items():
                del self._where[key]
                self._bytes -= len(item.packed)

    def clear(self) -> None:
        self._buckets = [{}]
        self._where.clear()
        self._bytes = 0
