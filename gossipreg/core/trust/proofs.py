"""What an owner signs, and the signer and verifier objects the core is given.

Rules: every statement is signed as one canonical msgpack list that starts with a domain tag
and the cluster name, so a signature is never valid for another kind of statement or another
cluster: a write ``(owner, generation, key, version, deleted, value, supersedes)`` (the value in
its wire form), an Alive ``(node, addr, generation, incarnation, key)``, a Left ``(node,
generation, incarnation)``, a rotation ``(node, new key)`` signed by the old key, and an owner's
manifest ``(owner, generation, upto, [[key, version], ...])``. The core never signs or verifies
itself: a :class:`Signer` and a :class:`Verifier` are injected (Ed25519 in the I/O layer,
:mod:`gossipreg.io.credentials.ed25519`; :class:`StubSigner` / :class:`StubVerifier` in the
simulator and tests, which run the same checks with a keyed hash). Pure and deterministic.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import msgpack

from gossipreg.core.wire.codec import PACKER_BUFFER

__all__ = ["Binder", "Identity", "Payloads", "Signer", "StubSigner", "StubVerifier", "Verifier",
           "stub_identity"]


class Signer(Protocol):
    """Signs for one node: ``public_key`` (32 bytes) and ``sign`` (64-byte signatures)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    """Checks a signature made by the holder of ``public_key``."""

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool: ...


# With a mesh CA: whether a certificate (DER) binds a node name to a public key.
Binder = Callable[[str, bytes, bytes], bool]


class Identity(NamedTuple):
    """What a node signs with: its ``signer``, the ``verifier`` of everyone's signatures and,
    when its key replaced an earlier one, ``rotation``: the earlier key's signature of the move
    (:meth:`Payloads.rotation`), which peers that pinned the earlier key need. With a mesh CA,
    ``cert`` is the CA's certificate of our name and key (DER) and ``binds`` checks others'
    (names are then bound by the CA: nothing is pinned on first use)."""

    signer: Signer
    verifier: Verifier
    rotation: bytes | None = None
    cert: bytes | None = None
    binds: Binder | None = None


# One Packer, reused, its buffer small at first (see core.wire.codec).
_pack: Callable[[list[Any]], bytes] = msgpack.Packer(use_bin_type=True,
                                                     buf_size=PACKER_BUFFER).pack


class Payloads:
    """The canonical bytes of each statement, for one cluster."""

    __slots__ = ("cluster",)

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    def write(self, owner: str, generation: int, key: str, version: int, deleted: bool,
              value: Any, supersedes: Sequence[int]) -> bytes:
        """A write; ``value`` in its wire form."""
        return _pack(["gossipreg/write/1", self.cluster, owner, generation, key, version,
                      deleted, value, list(supersedes)])

    def alive(self, node: str, addr: str, generation: int, incarnation: int,
              key: bytes) -> bytes:
        return _pack(["gossipreg/alive/1", self.cluster, node, addr, generation, incarnation,
                      key])

    def left(self, node: str, generation: int, incarnation: int) -> bytes:
        return _pack(["gossipreg/left/1", self.cluster, node, generation, incarnation])

    def rotation(self, node: str, new_key: bytes) -> bytes:
        return _pack(["gossipreg/rotate/1", self.cluster, node, new_key])

    def manifest(self, owner: str, generation: int, upto: int,
                 manifest: Sequence[tuple[str, int]]) -> bytes:
        return _pack(["gossipreg/manifest/1", self.cluster, owner, generation, upto,
                      [list(m) for m in manifest]])


class StubSigner:
    """A deterministic stand-in for Ed25519 (simulator and tests): the public key is a hash of
    the secret, a signature a keyed hash under the public key. It has the real one's sizes and
    runs the same checks; it protects against nothing (anyone who knows the public key can
    sign)."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.blake2b(secret, digest_size=32, person=b"gossipreg-stub").digest()

    @property
    def public_key(self) -> bytes:
        return self._key

    def sign(self, data: bytes) -> bytes:
        return hashlib.blake2b(data, key=self._key, digest_size=64).digest()


class StubVerifier:
    """Verifies :class:`StubSigner` signatures."""

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        want = hashlib.blake2b(data, key=public_key, digest_size=64).digest()
        return hmac.compare_digest(want, signature)


def stub_identity(name: str, seed: int = 0) -> Identity:
    """A stub identity derived from a node name (and a seed): the same name and seed give the
    same key, like a node restarted with its key file."""
    return Identity(StubSigner(f"{seed}:{name}".encode()), StubVerifier())
