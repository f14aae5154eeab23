"""Counters of one node: packets and bytes in and out, drops by reason, bytes by category.

Rules: counters only grow; a drop is counted under a stable reason label from one list, so an
exporter shows every reason (at 0 until it happens).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from gossipreg.core.wire.messages import Tag

__all__ = ["CATEGORIES", "DROP_REASONS", "Metrics"]

log = logging.getLogger("gossipreg.core.drops")
# A flood of bad packets must not become a flood of log lines: one line per reason per period.
DROP_LOG_PERIOD = 10.0
DROP_LOG_SENDERS = 16

# Every reason a packet or message is dropped for, so that each counter exists from the start.
# (``bad_vectors``: a vec/ value that failed its checks, or of our model with another length:
# kept in the replica, never used for search.)
DROP_REASONS = ("bad_cluster", "bad_mac", "bad_magic", "bad_vectors", "bad_version",
                "broadcast_overflow", "duplicate_name", "from_self", "malformed",
                "malformed_message", "misdirected", "oversized", "oversized_out", "truncated",
                "unencodable_out",
                "unexpected_signature", "unknown_type", "unsigned", "unspecified_address",
                # owner signatures (gossipreg.core.trust.judge)
                "ahead_of_alive", "bad_signature", "key_mismatch", "not_owner",
                "old_generation", "relayed_manifest", "sig_rate_limited", "unbound_key",
                "unknown_agent", "unknown_generation", "unknown_owner", "unsigned_member",
                "unsigned_write")

# What an operator should check when a peer's packets are dropped for these reasons.
DROP_HINTS: dict[str, str] = {
    "bad_mac": "its key is not in our keyring",
    "unsigned": "it has no key file; we require one",
    "unexpected_signature": "it signs with a key; we have no key file",
    "bad_cluster": "it belongs to another cluster (--cluster)",
    "bad_version": "it speaks another protocol version",
    "unspecified_address": "it advertises 0.0.0.0 or ::; give it --advertise",
    "key_mismatch": "a node presents another identity key than the one pinned for its name; "
                    "if on purpose: gossipreg admin forget-node NAME on this node",
    "unsigned_write": "an unsigned write of an owner that signs, or signatures are required",
    "unbound_key": "its identity key comes without a certificate of the mesh CA (--tls-ca) "
                   "naming it",
    "unsigned_member": "an unsigned Alive or Left of a node that signs, or signatures are "
                       "required (a previous release cannot join such a mesh)",
}

# Which traffic class each message tag belongs to, for the byte split.
CATEGORIES: dict[int, str] = {
    Tag.PING: "membership", Tag.ACK: "membership", Tag.PING_REQ: "membership",
    Tag.NACK: "membership", Tag.ALIVE: "membership", Tag.SUSPECT: "membership",
    Tag.DEAD: "membership", Tag.LEFT: "membership", Tag.WRITE: "broadcast",
    Tag.SYNC: "anti_entropy", Tag.SYNC_ACK: "anti_entropy", Tag.SYNC_ACK2: "anti_entropy",
    Tag.REQUEST: "requests", Tag.RESPONSE: "requests", Tag.BEACON: "broadcast",
    Tag.FEATURES: "membership",
}


@dataclass(slots=True)
class Metrics:
    """Plain counters; the I/O layer renders them in Prometheus format."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    join_attempts: int = 0
    duplicates_in: int = 0
    gap_repairs: int = 0
    member_transitions: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # Counted per tag (one step per message sent), summed per category when asked.
    bytes_out_by_tag: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))

    # (reason, sender) -> when last logged.
    _logged: dict[tuple[str, str | None], float] = field(default_factory=dict)
    # reason -> (start of the period, lines logged in it).
    _lines: dict[str, tuple[float, int]] = field(default_factory=dict)

    def drop(self, reason: str, now: float | None = None, src: str | None = None) -> None:
        """Count a dropped packet or message; log it, with the sender's address when the
        transport knows it, at most once per reason, sender and period."""
        total = self.dropped.get(reason, 0) + 1
        self.dropped[reason] = total
        if now is None:
            return
        key = (reason, src)
        last = self._logged.get(key)
        if last is None or now - last >= DROP_LOG_PERIOD:
            # Many senders: at most DROP_LOG_SENDERS lines per reason and period.
            start, lines = self._lines.get(reason, (now, 0))
            if now - start >= DROP_LOG_PERIOD:
                start, lines = now, 0
            if lines >= DROP_LOG_SENDERS:
                return
            self._lines[reason] = (start, lines + 1)
            hint = DROP_HINTS.get(reason, "")
            log.warning("dropped a packet or message from %s: %s%s (%d dropped for %s in all)",
                        src or "an unknown sender", reason, f" ({hint})" if hint else "",
                        total, reason)
            if len(self._logged) > 4096:  # many senders: forget, at worst log again
                self._logged.clear()
            self._logged[key] = now

    @property
    def bytes_out_by_category(self) -> dict[str, int]:
        """Message bytes sent per traffic class (every class present, zero if unused)."""
        out = dict.fromkeys(sorted(set(CATEGORIES.values())), 0)
        for tag, n in self.bytes_out_by_tag.items():
            cat = CATEGORIES.get(tag, "other")
            out[cat] = out.get(cat, 0) + n
        return out

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())
