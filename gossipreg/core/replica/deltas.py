"""Deltas: what a peer lacks of a replica, by the digest it sent.

Rules: per owner, the current entries above the peer's watermark in version order (each with
its owner's signature when it has one), within a byte budget; a manifest of every held key when
the peer is behind the collection floor; an empty delta of a newer generation when the peer
holds an older one (it then drops the old state).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from gossipreg.core.replica.owner_state import OwnerState
from gossipreg.core.replica.values import Delta, OwnerDelta, entry_size

__all__ = ["delta_for"]

SIG_OVERHEAD = 88  # a signature and what it superseded, in bytes on the wire


def delta_for(states: dict[str, OwnerState], digest: Mapping[str, tuple[int, int]],
              budget: int, rng: random.Random | None,
              value_size: Callable[[Any], int]) -> Delta:
    """What a peer with ``digest`` lacks, in version order per owner, within ``budget`` bytes.

    Owners are visited from a random starting point so that a small budget cannot starve the
    same owners forever.
    """
    owners = list(states)
    if rng is not None and len(owners) > 1:
        start = rng.randrange(len(owners))
        owners = owners[start:] + owners[:start]
    out: Delta = []
    left = budget
    for owner in owners:
        if left <= 0:
            break
        st = states[owner]
        gen, wm = digest.get(owner, (-1, 0))
        if not st.max_version and (gen == -1 or gen >= st.generation):
            # Nothing to send, unless the peer still holds an older generation: then an
            # empty delta of the new generation makes it drop the old state.
            continue
        if gen > st.generation:
            continue
        since = wm if gen == st.generation else 0
        if gen == st.generation and since >= st.max_version:
            continue
        manifest = None
        if gen == st.generation and since < st.gc_floor:
            manifest = tuple((k, e.version) for k, e in st.entries.items())
            left -= sum(len(k) + 6 for k, _ in manifest)
        entries: list[tuple[str, int, bool, Any]] = []
        proofs: list[tuple[bytes, tuple[int, ...]] | None] = []
        complete = True
        for key, e in st.above(since):
            size = entry_size(key, e.value, value_size)
            if size > left and entries:
                complete = False
                break
            entries.append((key, e.version, e.deleted, e.value))
            proofs.append(None if e.sig is None else (e.sig, e.sup))
            left -= size + (SIG_OVERHEAD if e.sig is not None else 0)
        if not entries and manifest is None and not complete:
            continue
        out.append(OwnerDelta(owner, st.generation, since, st.watermark, tuple(entries),
                              complete, manifest, st.gc_floor,
                              tuple(proofs) if any(proofs) else None))
    return out
