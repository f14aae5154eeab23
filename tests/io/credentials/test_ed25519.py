"""The two Ed25519 backends (the OpenSSL of Python's ssl module through ctypes, and the
``cryptography`` package) give the same keys and signatures, refuse the same things, and the
key file is the PKCS#8 PEM ``cryptography`` writes; key files in other encodings still load."""

from __future__ import annotations

import base64
import ctypes
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gossipreg import ConfigError
from gossipreg.io.credentials import ed25519
from gossipreg.io.credentials.identity import Ed25519Signer, Ed25519Verifier, NodeIdentity


def _libcrypto() -> ed25519.LibCrypto:
    try:
        return ed25519.LibCrypto()
    except (ImportError, OSError, AttributeError) as e:
        pytest.skip(f"no OpenSSL 1.1.1+ symbols through _ssl here: {e}")


def test_both_backends_pass_the_rfc_vectors_and_agree_on_every_signature() -> None:
    lib, crypt = _libcrypto(), ed25519.Cryptography()
    assert ed25519.self_test(lib) and ed25519.self_test(crypt)
    assert ed25519.backend().name == "libcrypto"  # this machine's OpenSSL is 3.x
    for n in (0, 1, 63, 64, 1000):
        seed, msg = ed25519.new_seed(), os.urandom(n)
        k1, k2 = lib.private_key(seed), crypt.private_key(seed)
        pub = lib.public_of(k1)
        assert pub == crypt.public_of(k2)
        sig = lib.sign(k1, msg)
        assert sig == crypt.sign(k2, msg)
        for b in (lib, crypt):
            key = b.public_key(pub)
            assert b.verify(key, sig, msg)
            assert not b.verify(key, sig, msg + b"!")
            assert not b.verify(key, bytes([sig[0] ^ 1]) + sig[1:], msg)
            assert not b.verify(key, sig[:63], msg)
            with pytest.raises(ValueError):
                b.public_key(pub[:31])


def test_a_refused_signature_leaves_nothing_in_openssls_error_queue() -> None:
    lib = _libcrypto()
    import _ssl

    peek = ctypes.CDLL(_ssl.__file__).ERR_peek_error
    peek.restype = ctypes.c_ulong
    key = lib.public_key(lib.public_of(lib.private_key(ed25519.new_seed())))
    assert not lib.verify(key, bytes(64), b"data")
    assert peek() == 0


def test_the_verifier_refuses_a_key_of_the_wrong_length_and_checks_the_rest() -> None:
    signer, verifier = Ed25519Signer.generate(), Ed25519Verifier()
    sig = signer.sign(b"m")
    assert verifier.verify(signer.public_key, sig, b"m")
    assert not verifier.verify(signer.public_key, sig, b"n")
    assert not verifier.verify(signer.public_key[:5], sig, b"m")


def test_the_key_file_is_the_pkcs8_pem_cryptography_writes() -> None:
    seed = ed25519.new_seed()
    pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    assert ed25519.pem_of_seed(seed) == pem
    assert ed25519.seed_of_pem(pem) == seed
    assert ed25519.seed_of_pem(pem.replace(b"\n", b"\r\n")) == seed
    for bad in (b"", b"junk", pem.replace(b"PRIVATE", b"PUBLIC"), pem[:40] + b"*" + pem[41:]):
        with pytest.raises(ed25519.PemError):
            ed25519.seed_of_pem(bad)


def test_key_files_in_other_encodings_load_or_are_refused_with_the_reason(
        tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    key = Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(ConfigError, match="cannot read the identity key"):
        NodeIdentity(path, node="a", cluster="c").load()
    ec = generate_private_key(SECP256R1())
    path.write_bytes(ec.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="is not an Ed25519 key"):
        NodeIdentity(path, node="a", cluster="c").load()
    path.write_bytes(b"not a key")
    with pytest.raises(ConfigError, match="cannot read the identity key"):
        NodeIdentity(path, node="a", cluster="c").load()
    # PKCS#8 v2 (RFC 5958: the public key beside the seed) is not the form written here, so
    # cryptography reads it.
    seed, pub = key.private_bytes_raw(), key.public_key().public_bytes_raw()
    der = (bytes.fromhex("3051020101300506032b657004220420") + seed + bytes.fromhex("812100")
           + pub)
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der)
                     + b"-----END PRIVATE KEY-----\n")
    with pytest.raises(ed25519.PemError):
        ed25519.seed_of_pem(path.read_bytes())
    assert NodeIdentity(path, node="a", cluster="c").load().signer.public_key == pub
