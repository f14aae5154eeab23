"""The verdict cache: bounded, the oldest verdict leaves first, a cached one is not verified
again."""

from __future__ import annotations

from gossipreg.core.trust.proofs import StubSigner, StubVerifier
from gossipreg.core.trust.verdicts import CACHE_SIZE, Verdicts


class CountingVerifier(StubVerifier):
    def __init__(self) -> None:
        self.calls = 0

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        self.calls += 1
        return super().verify(public_key, signature, data)


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    signer, verifier = StubSigner(b"k"), CountingVerifier()
    v = Verdicts(verifier)
    items = [(f"s{i}".encode(), signer.sign(f"s{i}".encode())) for i in range(CACHE_SIZE + 10)]
    for data, sig in items:
        assert v.check(signer.public_key, sig, data, "peer", 0.0) is None
    assert verifier.calls == CACHE_SIZE + 10 and v.verifications == CACHE_SIZE + 10
    # The newest CACHE_SIZE are held: checking them again verifies nothing.
    for data, sig in items[10:]:
        assert v.check(signer.public_key, sig, data, "peer", 0.0) is None
    assert verifier.calls == CACHE_SIZE + 10 and v.cache_hits == CACHE_SIZE
    # The first ten were evicted, oldest first: each is verified again.
    data, sig = items[0]
    assert v.check(signer.public_key, sig, data, "peer", 0.0) is None
    assert verifier.calls == CACHE_SIZE + 11
    bad = v.check(signer.public_key, b"\0" * 64, b"forged", "peer", 0.0)
    assert bad == "bad_signature"
