"""The delta half of the judge: what of a peer's anti-entropy deltas may be applied.

Rules (those of :mod:`gossipreg.core.trust.judge`, for deltas): an unsigned owner's delta
passes as before (unless signatures are required); a signed owner's entries verify one by one
(known ones skipped), the first that fails cuts the rest, an authentic write refused for what it
says is left out but counted as proven; the watermark moves only over what is proven (the
entries, or the owner's own signed manifest), never over a relay's bare claim; a manifest the
owner did not sign deletes nothing and prompts a repair from the owner. A delta none of whose
entries is proven is left out whole: its generation, newer than ours, would otherwise replace
what we hold of the owner with nothing (a restarted owner answers in the unsigned first-release
form a peer whose features it has not heard yet: every agent it brought back would churn).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from gossipreg.core.trust.proofs import Payloads
from gossipreg.core.wire.fields import OwnerDelta, ValueCodec

__all__ = ["DeltaJudge"]

Entries = tuple[tuple[str, int, bool, Any], ...]
Proofs = tuple[tuple[bytes, tuple[int, ...]] | None, ...]


class DeltaJudge:
    """A mixin of :class:`~gossipreg.core.trust.judge.Trust` (its pins, checks and counters)."""

    id: str
    pins: dict[str, bytes]
    payloads: Payloads
    values: ValueCodec
    unproven: set[str]
    _mode: bool | None
    stale: Callable[[str, int, str, int], bool]
    _ask: Callable[[str, int, int], object]

    def _drop(self, reason: str) -> None:
        raise NotImplementedError

    def _generation(self, owner: str, generation: int) -> str | None:
        raise NotImplementedError

    def _verified(self, key: bytes, sig: bytes, data: bytes) -> str | None:
        raise NotImplementedError

    def admits(self, owner: str, key: str, deleted: bool, batch: set[str] | None = None
               ) -> str | None:
        raise NotImplementedError

    def filter_deltas(self, deltas: Iterable[OwnerDelta]) -> list[OwnerDelta]:
        """What of a peer's deltas may be applied (see the module rules)."""
        out = []
        for od in deltas:
            owner = od.owner
            key = self.pins.get(owner)
            if owner == self.id:  # ours: the replica ignores it, but a manifest is not ours
                if od.manifest is not None and od.manifest_sig is None:
                    self._drop("relayed_manifest")
                out.append(od)
                continue
            if key is None and not self._mode and od.proofs is None and od.manifest_sig is None:
                out.append(od)  # an unsigned owner's, as before
                continue
            why = "unknown_owner" if key is None else self._generation(owner, od.generation)
            if key is None:
                self.unproven.add(owner)
            if why is not None or key is None:
                self._drop(why or "unknown_owner")
                continue
            entries, proofs, cut, proven = self._entries(od, key)
            if cut and not entries:  # nothing proven: not even a new generation (rules)
                if od.manifest is not None:
                    self._ask(owner, od.generation, od.upto)
                continue
            if od.manifest is not None and (od.manifest_sig is None or self._verified(
                    key, od.manifest_sig, self.payloads.manifest(
                        owner, od.generation, od.upto, od.manifest)) is not None):
                self._drop("relayed_manifest")
                self._ask(owner, od.generation, od.upto)
                out.append(OwnerDelta(owner, od.generation, od.since, od.since, entries, False,
                                      None, 0, proofs))
                continue
            # The watermark may move only over what is proven: the entries (or the owner's
            # signed manifest, whose upto it signed), never over a relay's bare claim.
            upto = od.upto if od.manifest is not None else min(od.upto, max(od.since, proven))
            out.append(dataclasses.replace(od, entries=entries, proofs=proofs, upto=upto,
                                           complete=od.complete and not cut))
        return out

    def _entries(self, od: OwnerDelta, key: bytes) -> tuple[Entries, Proofs, bool, int]:
        """The entries of ``od`` that may be applied, their proofs, whether a failure cut them
        short, and the highest version proven (an authentic write refused for what it says is
        left out, but proven: the watermark may pass it)."""
        entries, proofs = [], []
        owner, gen = od.owner, od.generation
        proven = 0
        batch: set[str] = set()
        for i, e in enumerate(od.entries):
            k, v, deleted, value = e
            p = od.proofs[i] if od.proofs is not None else None
            if self.stale(owner, gen, k, v):  # known news: merging it is a no-op
                entries.append(e)
                proofs.append(p)
                proven = v
                continue
            why = "unsigned_write" if p is None else self._verified(key, p[0], self.payloads.write(
                owner, gen, k, v, deleted, self.values.to_wire(value), p[1]))
            why = why or self.admits(owner, k, deleted, batch)
            if why is not None and why != "not_owner":
                self._drop(why)
                return tuple(entries), tuple(proofs), True, proven
            proven = v
            if why is not None:  # authentic, but not this owner's to say: accounted for
                self._drop(why)
                continue
            entries.append(e)
            proofs.append(p)
            if not deleted:
                batch.add(k)
        return tuple(entries), tuple(proofs), False, proven
