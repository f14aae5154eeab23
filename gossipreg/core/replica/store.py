"""The directory replica: a scuttlebutt-style CRDT of owner-written keys.

Rules:
- Every key belongs to one owner; only the owner writes it, each write taking the owner's next
  version. Per owner we keep ``generation``, the entries ``key -> Entry`` and a ``watermark``.
- Per key, the higher version wins, whichever path (broadcast or delta) brought it.
- A newer generation of an owner replaces its whole older state; an older one is ignored.
- Every application reports typed changes ``(owner, key, old entry, new entry)``: the view
  derives visible state and events from them alone, never by reading a key back.
- Deletions are versioned tombstones (a tombstone may carry a short reason, e.g. why a record
  was deleted), collected ``tombstone_ttl`` after they were applied here, or earlier, oldest
  first, while more than ``max_tombstones`` are held. A tombstone above the owner's watermark
  waits for it (older writes of its key may still arrive, and only it says they are stale);
  one collected early for the cap is unsettled, so only a delta moves the watermark past it.
  ``gc_floor`` remembers the highest collected version, so that a peer whose watermark is below
  it gets a manifest of the live keys (and drops the keys it should have seen deleted). Every
  delta carries the sender's floor: a receiver whose watermark it moves past collected
  tombstones takes the floor on (up to its watermark), as it cannot hand those tombstones on.
- The watermark ``w`` means "every write with version <= w that is still current is here". A
  delta moves it: a delta answers "current writes with version > w", in version order, so applying
  a prefix of it moves the watermark to the last version applied (never past the sender's own
  watermark). Broadcast writes move it too, but only over versions accounted for: each write
  names the versions of its key it supersedes, so a version is settled once it, or a write that
  supersedes it, is here; the watermark advances over the settled run above it. Without this,
  every anti-entropy exchange would resend every write the fast path already delivered.
- The digest is ``{owner: (generation, watermark)}``; the owner's own watermark is its max version.

Merge is commutative, associative and idempotent: the final state depends only on the set of
writes seen (highest version per key within the highest generation).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.replica.deltas import delta_for
from gossipreg.core.replica.owner_state import OwnerState
from gossipreg.core.replica.values import (
    Change,
    Delta,
    Digest,
    Entry,
    OwnerDelta,
    Write,
    entry_size,
    live_value,
    make_entry,
    packed_size,
)

__all__ = ["UNTOLD", "Change", "Delta", "Digest", "Entry", "OwnerDelta", "Replica", "Write",
           "entry_size", "live_value"]
UNTOLD = Write("", 0, "", 0, False, None)  # what put returns for a write nobody is told of

class Replica:
    """One node's copy of the directory, including the part it owns; changes are reported as
    :class:`Change` so that the view can re-derive exactly what moved."""

    def __init__(self, self_id: str, generation: int, tombstone_ttl: float = 3600.0,
                 max_tombstones: int = 5_000, *,
                 value_size: Callable[[Any], int] = packed_size,
                 sign: Callable[[Write], bytes] | None = None) -> None:
        if tombstone_ttl <= 0:
            raise InvalidArgumentError("tombstone_ttl must be positive")
        self._value_size = value_size
        self.sign = sign  # signs our own writes (None: they travel unsigned)
        if max_tombstones < 0:
            raise InvalidArgumentError("max_tombstones must not be negative")
        self.self_id = self_id
        self.generation = generation
        self.tombstone_ttl = tombstone_ttl
        self.max_tombstones = max_tombstones
        # Our own version order is built at the first delta a peer asks for (owner_state).
        self._owners: dict[str, OwnerState] = {self_id: OwnerState(generation, built=False)}
        # (applied_at, owner, generation, key, version) in application order, for GC.
        self._tombstones: deque[tuple[float, str, int, str, int]] = deque()
        # Owners with versions above our watermark that we have not got: since when.
        self._gaps: dict[str, float] = {}

    # ----------------------------------------------------------------- reading
    def get(self, owner: str, key: str) -> Entry | None:
        st = self._owners.get(owner)
        return None if st is None else st.entries.get(key)

    def value(self, owner: str, key: str) -> Any:
        """The current value of a key; None if absent or deleted."""
        e = self.get(owner, key)
        return None if e is None or e.deleted else e.value

    def max_version(self, owner: str) -> int:
        st = self._owners.get(owner)
        return 0 if st is None else st.max_version

    def generation_of(self, owner: str) -> int:
        """The generation of ``owner`` held here (0: none)."""
        st = self._owners.get(owner)
        return 0 if st is None else st.generation

    def keys_of(self, owner: str) -> list[str]:
        """Every key (live or tombstoned) held for ``owner``."""
        st = self._owners.get(owner)
        return [] if st is None else list(st.entries)

    def is_stale(self, owner: object, generation: object, key: object, version: object) -> bool:
        """Whether a write is already known (or superseded) here; False when unsure, including
        for values of the wrong type (the full validation then rejects them)."""
        if type(owner) is not str or type(key) is not str or type(version) is not int:
            return False
        st = self._owners.get(owner)
        if st is None or generation != st.generation:
            return False
        e = st.entries.get(key)
        return e is not None and e.version >= version

    def digest(self) -> Digest:
        """``{owner: (generation, watermark)}`` of us and every owner that wrote something."""
        me = self.self_id
        return {o: (st.generation, st.watermark) for o, st in self._owners.items()
                if st.max_version or o == me}

    def state(self) -> dict[str, tuple[int, dict[str, tuple[int, bool, Any]]]]:
        """Comparable snapshot for tests and checks: owner -> (generation, entries)."""
        return {
            o: (st.generation, {k: (e.version, e.deleted, e.value) for k, e in st.entries.items()})
            for o, st in self._owners.items()
        }

    def live_state(self) -> dict[str, tuple[int, dict[str, tuple[int, Any]]]]:
        """Like :meth:`state` without tombstones or empty owners (what GC may not change)."""
        out: dict[str, tuple[int, dict[str, tuple[int, Any]]]] = {}
        for o, st in self._owners.items():
            live = {k: (e.version, e.value) for k, e in st.entries.items() if not e.deleted}
            if live:
                out[o] = (st.generation, live)
        return out

    def __len__(self) -> int:
        return sum(len(st.entries) for st in self._owners.values())

    # ------------------------------------------------------------ owner writes
    def write(self, key: str, value: Any) -> Write:
        """Write one of our own keys; returns the write to disseminate (signed when the
        replica has a ``sign``)."""
        return self.put(key, value)[0]

    def delete(self, key: str, now: float, reason: str | None = None) -> Write | None:
        """Delete one of our own keys (a tombstone carrying ``reason``); None if absent."""
        out = self.remove(key, now, reason)
        return None if out is None else out[0]

    def put(self, key: str, value: Any, told: bool = True) -> tuple[Write, Change]:
        """:meth:`write`, also returning the change (the write is UNTOLD when not ``told``).
        An untold write is signed all the same: its entry keeps the proof that a delta carries
        to the peers the node meets later."""
        st = self._owners[self.self_id]
        version = st.max_version + 1
        old = st.entries.get(key)
        if told or self.sign is not None:
            w = self._signed(Write(self.self_id, self.generation, key, version, False, value,
                                   () if old is None else (old.version,)))
            new = make_entry(value, version, False, w.sig, w.supersedes)
        else:  # nobody to tell and nothing to sign: no Write at all
            w, new = UNTOLD, Entry(value, version, False)
        st.put(key, new)
        st.watermark = version
        return (w if told else UNTOLD), (self.self_id, key, old, new)

    def put_quiet(self, keys: Sequence[str], values: Sequence[Any]) -> None:
        """:meth:`put` of many own keys, absent or deleted, nobody told, on a replica that
        signs nothing (the caller's checks): no Write, no Change."""
        assert self.sign is None
        self._owners[self.self_id].put_many(keys, values)

    def own_entries(self) -> Mapping[str, Entry]:
        """Our own keys' current entries (live and deleted; read-only, live)."""
        return self._owners[self.self_id].entries

    def _signed(self, w: Write) -> Write:
        sign = self.sign
        return w if sign is None else Write(w.owner, w.generation, w.key, w.version, w.deleted,
                                            w.value, w.supersedes, sign(w))

    def remove(self, key: str, now: float, reason: str | None = None
               ) -> tuple[Write, Change] | None:
        """:meth:`delete`, also returning the change."""
        st = self._owners[self.self_id]
        old = st.entries.get(key)
        if old is None or old.deleted:
            return None
        version = st.max_version + 1
        w = self._signed(Write(self.self_id, self.generation, key, version, True, reason,
                               (old.version,)))
        new = make_entry(reason, version, True, w.sig, w.supersedes)
        st.put(key, new)
        st.watermark = version
        self._tombstones.append((now, self.self_id, self.generation, key, version))
        return w, (self.self_id, key, old, new)

    def own_value(self, key: str) -> Any:
        e = self._owners[self.self_id].entries.get(key)
        return None if e is None or e.deleted else e.value

    # ----------------------------------------------------------------- merging
    def _owner_for(self, owner: str, generation: int,
                   changed: list[Change]) -> OwnerState | None:
        """The state to merge a write of ``generation`` into, replacing an older generation."""
        st = self._owners.get(owner)
        if st is None:  # (then of this generation: returned below)
            st = self._owners[owner] = OwnerState(generation)
        if generation < st.generation:
            return None
        if generation > st.generation:
            if owner == self.self_id:
                return None  # nobody but us writes our state
            changed.extend((owner, k, e, None) for k, e in st.entries.items())
            st = self._owners[owner] = OwnerState(generation)
        return st

    def apply_write(self, w: Write, now: float) -> list[Change]:
        """Apply a broadcast write; returns the changes (empty if stale)."""
        changed: list[Change] = []
        if w.owner == self.self_id:
            return changed
        st = self._owner_for(w.owner, w.generation, changed)
        if st is None:
            return changed
        self._merge_entry(st, w.owner, w.key, w.version, w.deleted, w.value, now, changed,
                          w.sig, w.supersedes)
        # Whether it was news or not, its version and those it supersedes are settled here.
        st.settle((w.version, *w.supersedes))
        self._track_gap(w.owner, st, now)
        return changed

    def account(self, w: Write, now: float) -> None:
        """An authentic write refused for what it says: not stored, but its versions are
        settled (no hole to repair: every node refuses it alike)."""
        st = self._owners.get(w.owner)
        if w.owner != self.self_id and st is not None and st.generation == w.generation:
            st.settle((w.version, *w.supersedes))
            self._track_gap(w.owner, st, now)

    def _track_gap(self, owner: str, st: OwnerState, now: float) -> None:
        if st.watermark < st.max_version:
            self._gaps.setdefault(owner, now)
        else:
            self._gaps.pop(owner, None)

    def announce(self, owner: str, generation: int, version: int) -> bool:
        """The owner says its latest version is ``version`` (a beacon; the caller checked that
        the owner is a member of that generation). Returns True when that reveals a write we
        lack; the hole is due for repair at once: the write had time to arrive."""
        if owner == self.self_id:
            return False
        st = self._owners.get(owner)
        if st is None:
            # We never got a write of this owner: its first one was lost.
            st = self._owners[owner] = OwnerState(generation)
        if st.generation != generation or version <= st.max_version:
            return False
        st.max_version = version
        self._gaps[owner] = float("-inf")
        return True

    def gaps(self) -> Mapping[str, float]:
        """Owners from whom we have a later write but still miss an earlier one, with the local
        time the hole opened (-inf when a beacon showed it: the write had time to arrive).
        Read-only."""
        return self._gaps

    def _merge_entry(self, st: OwnerState, owner: str, key: str, version: int, deleted: bool,
                     value: Any, now: float, changed: list[Change], sig: bytes | None = None,
                     sup: tuple[int, ...] = ()) -> None:
        old = st.entries.get(key)
        if old is not None:
            if old.version >= version:
                return
        elif version <= st.watermark or version in st.settled:
            # We hold every current write up to the watermark (and each settled one), so an
            # unknown key there is stale: superseded, or deleted and its tombstone collected.
            return
        new = Entry(value, version, deleted) if sig is None else make_entry(
            value, version, deleted, sig, sup)
        st.put(key, new)
        if deleted:
            self._tombstones.append((now, owner, st.generation, key, version))
        changed.append((owner, key, old, new))

    def apply_delta(self, delta: Delta, now: float) -> list[Change]:
        """Apply a delta (slow path); returns the changes."""
        changed: list[Change] = []
        for od in delta:
            if od.owner == self.self_id:
                continue
            st = self._owner_for(od.owner, od.generation, changed)
            if st is None:
                continue
            if od.manifest is not None:
                self._apply_manifest(st, od, changed)
            proofs, merge, owner, entries = od.proofs, self._merge_entry, od.owner, od.entries
            last = entries[-1][1] if entries else None
            if proofs is None:  # unsigned: the usual delta (a warm start's 10^7 entries)
                for key, version, deleted, value in entries:
                    merge(st, owner, key, version, deleted, value, now, changed)
            else:
                for i, (key, version, deleted, value) in enumerate(entries):
                    merge(st, owner, key, version, deleted, value, now, changed, *(proofs[i] or ()))
            if od.since <= st.watermark:
                # Everything current in (since, reached] is now here.
                if od.complete:
                    reached = od.upto
                elif last is not None:
                    reached = min(last, od.upto)
                else:
                    reached = od.since
                if reached > st.watermark:
                    st.watermark = reached
                if st.watermark > st.max_version:
                    st.max_version = st.watermark
            st.settle([e[1] for e in od.entries])
            self._track_gap(od.owner, st, now)
            # The sender's collected tombstones never reached us, yet our watermark may now
            # stand above them: we cannot hand them on either, so a peer below them gets a
            # manifest from us too (else it keeps a key it should have seen deleted).
            st.gc_floor = max(st.gc_floor, min(od.floor, st.watermark))
        return changed

    def _apply_manifest(self, st: OwnerState, od: OwnerDelta, changed: list[Change]) -> None:
        assert od.manifest is not None
        known = dict(od.manifest)
        for key in [k for k, e in st.entries.items() if e.version <= od.upto and k not in known]:
            e = st.entries[key]
            if not e.deleted:
                changed.append((od.owner, key, e, None))
            st.drop(key)

    def delta_for(self, digest: Mapping[str, tuple[int, int]], budget: int,
                  rng: random.Random | None = None) -> Delta:
        """What a peer with ``digest`` lacks, in version order per owner, within ``budget`` bytes
        (:func:`~gossipreg.core.replica.deltas.delta_for`)."""
        return delta_for(self._owners, digest, budget, rng, self._value_size)

    # --------------------------------------------------------------------- GC
    def collect(self, now: float) -> int:
        """Drop tombstones older than ``tombstone_ttl``, and the oldest beyond
        ``max_tombstones`` (memory stays bounded under any rate of deletions: a peer that
        missed a deletion collected early is behind the floor and gets a manifest); returns how
        many were dropped."""
        dropped = 0
        cutoff = now - self.tombstone_ttl
        q, cap = self._tombstones, self.max_tombstones
        kept: list[tuple[float, str, int, str, int]] = []
        while q and (q[0][0] <= cutoff or len(q) + len(kept) > cap):
            over = len(q) + len(kept) > cap
            item = q.popleft()
            _, owner, gen, key, version = item
            st = self._owners.get(owner)
            if st is None or st.generation != gen:
                continue
            e = st.entries.get(key)
            if e is None or e.version != version or not e.deleted:
                continue
            if version > st.watermark:  # older writes of the key may still come: see the rules
                if not over:
                    kept.append(item)
                    continue
                st.settled.discard(version)  # the watermark passes it by a delta alone
            st.drop(key)
            st.gc_floor = max(st.gc_floor, version)
            dropped += 1
        q.extendleft(reversed(kept))
        return dropped

    def reset_owner(self, owner: str, generation: int) -> list[Change]:
        """An owner restarted with ``generation``: drop its older state; returns the live keys
        lost."""
        st = self._owners.get(owner)
        if owner == self.self_id or st is None or st.generation >= generation:
            return []
        self._owners[owner] = OwnerState(generation)
        return [(owner, k, e, None) for k, e in st.entries.items() if not e.deleted]

    def forget_owner(self, owner: str) -> list[Change]:
        """Drop everything about an owner (it is gone for good); returns its live keys lost."""
        if owner == self.self_id:
            raise InvalidArgumentError("cannot forget our own state")
        st = self._owners.pop(owner, None)
        self._gaps.pop(owner, None)
        if st is None:
            return []
        return [(owner, k, e, None) for k, e in st.entries.items() if not e.deleted]
