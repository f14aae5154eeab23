"""Signature verdicts: cached, and rate-limited where they fail.

Rules: a verdict is cached by a hash of (key, signature, statement), a bounded table of
:data:`CACHE_SIZE` entries (the oldest goes). Each failed verification is charged to the
sender it came from and to everyone together; a sender that failed before is cut off (its
signed items are refused unverified, ``sig_rate_limited``) once its own allowance or the
common one is spent, and allowances refill with time. A sender that never failed is never
cut off, so a flood costs at most one verification per new sender name.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from gossipreg.core.trust.proofs import Verifier

__all__ = ["CACHE_SIZE", "Verdicts"]

CACHE_SIZE = 8192
SOURCE_BURST, SOURCE_RATE = 8.0, 1.0  # failed verifications a sender may cause: burst, per s
GLOBAL_BURST, GLOBAL_RATE = 64.0, 16.0  # and all senders together


class Verdicts:
    """Cached signature checks with a budget for failures (see the module rules)."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        # Ordered: the oldest leaves in O(1) (a dict would rescan every earlier eviction's hole).
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._buckets: dict[str, list[float]] = {}
        self._all = [GLOBAL_BURST, 0.0]
        self.verifications = 0  # signatures actually checked
        self.cache_hits = 0

    def check(self, key: bytes, sig: bytes, data: bytes, source: str, now: float) -> str | None:
        """None when ``sig`` is ``key``'s over ``data``; else ``bad_signature`` or
        ``sig_rate_limited``."""
        h = hashlib.blake2b(key + sig + data, digest_size=16).digest()
        ok = self._cache.get(h)
        if ok is not None:
            self.cache_hits += 1
        else:
            if self._limited(source, now):
                return "sig_rate_limited"
            ok = self.verifier.verify(key, sig, data)
            self.verifications += 1
            if len(self._cache) >= CACHE_SIZE:
                self._cache.popitem(last=False)
            self._cache[h] = ok
            if not ok:
                self._failed(source, now)
        return None if ok else "bad_signature"

    def _limited(self, source: str, now: float) -> bool:
        a = self._all
        a[0], a[1] = min(GLOBAL_BURST, a[0] + (now - a[1]) * GLOBAL_RATE), now
        b = self._buckets.get(source)
        if b is None:
            return False
        b[0], b[1] = min(SOURCE_BURST, b[0] + (now - b[1]) * SOURCE_RATE), now
        return b[0] < 1.0 or a[0] < 1.0

    def _failed(self, source: str, now: float) -> None:
        if len(self._buckets) > 4096:
            self._buckets.clear()
        b = self._buckets.setdefault(source, [SOURCE_BURST, now])
        b[0] -= 1.0
        self._all[0] -= 1.0
