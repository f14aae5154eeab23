"""The signing half of the judge: what this node signs of its own.

Rules: our writes are signed when the replica makes them; our Alive is signed once per
(address, generation, incarnation) and carries our rotation and certificate, if any; our Left
when we leave; the manifest of our own state when a peer behind our floor is sent one (a relay
cannot sign another owner's). Rotating swaps the identity and re-signs from then on.
"""

from __future__ import annotations

import dataclasses

from gossipreg.core.trust.proofs import Identity, Payloads
from gossipreg.core.trust.verdicts import Verdicts
from gossipreg.core.wire.fields import OwnerDelta, Proof, ValueCodec, Write

__all__ = ["OwnSigning"]


class OwnSigning:
    """A mixin of :class:`~gossipreg.core.trust.judge.Trust`."""

    id: str
    identity: Identity
    payloads: Payloads
    values: ValueCodec
    verdicts: Verdicts
    _own: tuple[tuple[str, int, int], Proof] | None

    @property
    def public_key(self) -> bytes:
        return self.identity.signer.public_key

    def sign_write(self, w: Write) -> bytes:
        p = self.payloads.write(w.owner, w.generation, w.key, w.version, w.deleted,
                                self.values.to_wire(w.value), w.supersedes)
        return self.identity.signer.sign(p)

    def own_proof(self, addr: str, generation: int, incarnation: int) -> Proof:
        """Our signed Alive at this version (signed once per version)."""
        at = (addr, generation, incarnation)
        if self._own is None or self._own[0] != at:
            key = self.public_key
            sig = self.identity.signer.sign(
                self.payloads.alive(self.id, addr, generation, incarnation, key))
            self._own = (at, Proof(key, sig, self.identity.rotation, self.identity.cert))
        return self._own[1]

    def sign_left(self, generation: int, incarnation: int) -> bytes:
        return self.identity.signer.sign(self.payloads.left(self.id, generation, incarnation))

    def rotate(self, identity: Identity) -> None:
        """Sign with ``identity`` from now on (its ``rotation`` signed by the current key)."""
        self.identity = identity
        self.verdicts.verifier = identity.verifier
        self._own = None

    def seal(self, deltas: list[OwnerDelta]) -> list[OwnerDelta]:
        """Sign the manifests of our own state in ``deltas`` (a relay's cannot be)."""
        if not any(d.owner == self.id and d.manifest is not None for d in deltas):
            return deltas
        sign, pay = self.identity.signer.sign, self.payloads.manifest
        return [dataclasses.replace(d, manifest_sig=sign(pay(d.owner, d.generation, d.upto,
                                                              d.manifest)))
                if d.owner == self.id and d.manifest is not None else d for d in deltas]
