"""Transmit-limited broadcast queue (the fast path of dissemination).

Each item is a wire message under a replacement key: queuing a newer message under the same key
drops the older one (a newer write of a key, a newer state of a member, the latest heartbeat).
Items are handed out least-transmitted first, newest first among equals, and an item is retired
after ``limit`` transmissions, the limit being computed when items are taken so that it follows
the cluster size.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = ["BroadcastQueue"]


class _Item:
    __slots__ = ("key", "msg", "size", "transmits")

    def __init__(self, key: Hashable, msg: list[Any], size: int) -> None:
        self.key = key
        self.msg = msg
        self.size = size
        self.transmits = 0


class BroadcastQueue:
    """Broadcasts bucketed by how often they were sent."""

    def __init__(self) -> None:
        self._buckets: list[dict[Hashable, _Item]] = [{}]
        self._where: dict[Hashable, _Item] = {}

    def __len__(self) -> int:
        return len(self._where)

    def put(self, key: Hashable, msg: list[Any], size: int) -> None:
        """Queue ``msg`` (its encoded ``size`` in bytes), replacing any item under ``key``."""
        self.discard(key)
        item = _Item(key, msg, size)
        self._where[key] = item
        self._buckets[0][key] = item

    def peek(self, key: Hashable) -> list[Any] | None:
        """The message queued under ``key``, if any."""
        item = self._where.get(key)
        return None if item is None else item.msg

    def discard(self, key: Hashable) -> None:
        old = self._where.pop(key, None)
        if old is not None:
            del self._buckets[old.transmits][key]

    def take(self, budget: int, limit: int) -> list[tuple[list[Any], int]]:
        """``(message, size)`` pairs that fit in ``budget`` bytes; each taken one counts one
        transmission."""
        out: list[tuple[list[Any], int]] = []
        if not self._where:
            return out
        taken: list[_Item] = []
        for bucket in self._buckets:
            if budget <= 0:
                break
            for item in reversed(bucket.values()):
                if item.size <= budget:
                    budget -= item.size
                    taken.append(item)
                    out.append((item.msg, item.size))
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
