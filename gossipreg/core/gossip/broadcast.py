"""Transmit-limited broadcast queue (the fast path of dissemination).

Rules: each item is a packed message (packed once, framed as often as it is sent) under a
replacement key: queuing a newer message under the same key drops the older one (a newer write
of a key, a newer state of a member, the latest heartbeat). Items are handed out
least-transmitted first, newest first among equals (an item is as new as its last move to its
count), and an item is retired after ``limit`` transmissions, the limit being computed when
items are taken so that it follows the cluster size. The queue counts its items larger than
``large_over`` bytes (too large for a datagram: their packets go over streams).

A queue given ``max_items`` holds no more: a put beyond it evicts the item sent most often,
the oldest among those (Serf's MaxQueueDepth; memberlist prunes the same way). Writes arriving
faster than the gossip budget carries them would otherwise pile up without end: newest first,
the oldest unsent ones never leave (measured: +1,000 items a minute at 90 writes/s on four
nodes). An evicted write is not lost to the mesh: anti-entropy carries it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["BroadcastQueue"]


# (tag, packed message, its first-release form or None): what a take hands out, as stored. The
# second packing is the first one itself unless the message has trailing items or keys that a
# first-release node refuses.
Message = tuple[int, bytes, bytes | None]


class BroadcastQueue:
    """Broadcasts bucketed by how often they were sent: ``_buckets[k]`` holds the items sent
    ``k`` times, oldest first. Items are stored as the ``(tag, packed)`` pairs that a take
    returns, so that a take copies references and builds nothing."""

    def __init__(self, large_over: int = 1 << 62, max_items: int = 0) -> None:
        self._buckets: list[OrderedDict[Hashable, Message]] = [OrderedDict()]
        self._where: dict[Hashable, Message] = {}
        # The items by key, read-only for callers: its truth (anything queued?) costs no call.
        self.queued: Mapping[Hashable, Message] = self._where
        self._meta: dict[Hashable, Any] = {}
        self._bytes = 0
        self._large_over = large_over
        self.large = 0  # items queued whose packed size exceeds ``large_over``
        self._max_items = max_items  # 0: no bound
        # No item ever queued was smaller (a lower bound of the smallest queued one): a take
        # whose budget left falls below it stops looking.
        self._smallest = 1 << 62
        self.evicted = 0  # items evicted by the bound, in all

    def __len__(self) -> int:
        return len(self._where)

    def put(self, key: Hashable, tag: int, packed: bytes, meta: Any = None,
            first_release: bytes | bool | None = True) -> None:
        """Queue the message ``packed`` (tagged ``tag``), replacing any item under ``key``;
        ``meta`` is kept beside it for :meth:`peek`; ``first_release`` is its form for a
        first-release node (True: the same bytes; None: not sent to such a node)."""
        self.discard(key)
        item = (tag, packed, packed if first_release is True else first_release or None)
        self._where[key] = item
        self._buckets[0][key] = item
        if meta is not None:
            self._meta[key] = meta
        size = len(packed)
        self._bytes += size
        if size < self._smallest:
            self._smallest = size
        if size > self._large_over:
            self.large += 1
        if self._max_items and len(self._where) > self._max_items:
            self._evict()

    def _evict(self) -> None:
        """Drop the oldest of the items sent most often (never the one just put: it is the
        newest of bucket 0, and a full queue holds at least one other item)."""
        # Ordered dicts, not dicts: a dict keeps the slots of deleted keys until it grows and
        # iterates from its first slot, so evicting from the front scanned every earlier
        # eviction's hole (pipeline benchmark at 100k agents, a full queue: +6.7 us a received
        # heartbeat). An ordered dict finds its first item at once; it costs every put and
        # take about 0.3 us more.
        bucket = next(b for b in reversed(self._buckets) if b)
        self.discard(next(iter(bucket)))
        self.evicted += 1

    def peek(self, key: Hashable) -> Any:
        """The ``meta`` of the message queued under ``key`` (None if there is none)."""
        return self._meta.get(key)

    def discard(self, key: Hashable) -> None:
        old = self._where.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
            if len(old[1]) > self._large_over:
                self.large -= 1
            self._meta.pop(key, None)
            for bucket in self._buckets:
                if bucket.pop(key, None) is not None:
                    break

    def take(self, budget: int, limit: int) -> list[Message]:
        """``(tag, packed)`` messages that fit in ``budget`` bytes; each taken one counts one
        transmission, and one sent ``limit`` times is retired."""
        if not self._where:
            return []
        buckets = self._buckets
        out: list[Message] = []
        if self._bytes <= budget:
            # Everything fits (the usual case): every bucket moves up by one, no item moves.
            for b in buckets:
                if b:
                    out.extend(reversed(b.values()))
            buckets.insert(0, OrderedDict())
            self._retire_from(max(limit, 1))
            return out
        taken: list[tuple[int, Hashable, Message]] = []
        smallest = self._smallest
        for k, bucket in enumerate(buckets):
            if budget < smallest:
                break
            for key, item in reversed(bucket.items()):
                size = len(item[1])
                if size <= budget:
                    budget -= size
                    taken.append((k, key, item))
                    out.append(item)
                    if budget < smallest:  # nothing left fits (refutation storms: long queues)
                        break
        for k, key, item in reversed(taken):  # oldest first: keeps their order in the next bucket
            del buckets[k][key]
            if len(buckets) == k + 1:
                buckets.append(OrderedDict())
            buckets[k + 1][key] = item
        self._retire_from(max(limit, 1))
        return out

    def _retire_from(self, limit: int) -> None:
        """Drop the items sent ``limit`` times or more."""
        buckets = self._buckets
        while len(buckets) > limit:
            meta = self._meta
            for key, item in buckets.pop().items():
                del self._where[key]
                if meta:
                    meta.pop(key, None)
                self._bytes -= len(item[1])
                if len(item[1]) > self._large_over:
                    self.large -= 1

    def clear(self) -> None:
        self._buckets = [OrderedDict()]
        self._where.clear()
        self._meta.clear()
        self._bytes = 0
        self.large = 0
