"""Transmit-limited broadcast queue (the fast path of dissemination).

Each item is a packed message (packed once, framed as often as it is sent) under a replacement
key: queuing a newer message under the same key drops the older one (a newer write of a key, a
newer state of a member, the latest heartbeat). Items are handed out least-transmitted first,
newest first among equals, and an item is retired after ``limit`` transmissions, the limit being
computed when items are taken so that it follows the cluster size.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["BroadcastQueue"]


class _Item:
    __slots__ = ("key", "meta", "packed", "tag", "transmits")

    def __init__(self, key: Hashable, tag: int, packed: bytes, meta: Any) -> None:
        self.key = key
        self.tag = tag
        self.packed = packed
        self.meta = meta
        self.transmits = 0


class BroadcastQueue:
    """Broadcasts bucketed by how often they were sent."""

    def __init__(self) -> None:
        self._buckets: list[dict[Hashable, _Item]] = [{}]
        self._where: dict[Hashable, _Item] = {}

    def __len__(self) -> int:
        return len(self._where)

    def put(self, key: Hashable, tag: int, packed: bytes, meta: Any = None) -> None:
        """Queue the message ``packed`` (tagged ``tag``), replacing any item under ``key``;
        ``meta`` is kept beside it for :meth:`peek`."""
        self.discard(key)
        item = _Item(key, tag, packed, meta)
        self._where[key] = item
        self._buckets[0][key] = item

    def peek(self, key: Hashable) -> Any:
        """The ``meta`` of the message queued under ``key`` (None if there is none)."""
        item = self._where.get(key)
        return None if item is None else item.meta

    def discard(self, key: Hashable) -> None:
        old = self._where.pop(key, None)
        if old is not None:
            del self._buckets[old.transmits][key]

    def take(self, budget: int, limit: int) -> list[tuple[int, bytes]]:
        """``(tag, packed)`` messages that fit in ``budget`` bytes; each taken one counts one
        transmission."""
        out: list[tuple[int, bytes]] = []
        if not self._where:
            return out
        taken: list[_Item] = []
        for bucket in self._buckets:
            if budget <= 0:
                break
            for item in reversed(bucket.values()):
                size = len(item.packed)
                if size <= budget:
                    budget -= size
                    taken.append(item)
                    out.append((item.tag, item.packed))
                    if budget <= 0:
                        break
        for item in taken:
            del self._buckets[item.transmits][item.key]
            item.transmits += 1
            if item.transmits >= limit:
                del self._where[item.key]
                continue
            while len(self._buckets) <= item.transmits:
                self._buckets.append({})
            self._buckets[item.transmits][item.key] = item
        return out

    def clear(self) -> None:
        self._buckets = [{}]
        self._where.clear()
