"""Ed25519 for a node's identity: keys, signatures and the key file's PKCS#8 PEM form.

Two backends compute the same thing (RFC 8032 signatures are deterministic):

- ``libcrypto``: the OpenSSL library Python's own :mod:`ssl` module is linked with (already in
  the process of every node, since aiohttp imports :mod:`ssl`), called through :mod:`ctypes`;
  its symbols are found through the ``_ssl`` extension, so it is that very library, never
  another one found by name. It is used only when it signs and verifies RFC 8032's test
  vectors correctly at first use.
- ``cryptography``: the ``cryptography`` package, when the first is not there (an OpenSSL
  older than 1.1.1, or one built into ``_ssl`` without its symbols).

Why two: importing ``cryptography``'s Ed25519 costs a node ~6 MB of RSS (its compiled module),
and with its serialization and X.509 modules ~9.5 MB, about a sixth of an idle node; the first
backend costs ~0.4 MB (:mod:`ctypes`). ``cryptography`` is still what reads certificates
(``--tls-ca``, :class:`~gossipreg.io.credentials.identity.CaBinder`) and key files in other
encodings than the one written here.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Protocol

__all__ = ["Backend", "PemError", "backend", "pem_of_seed", "seed_of_pem"]

# PKCS#8 v1 (RFC 8410) of an Ed25519 key: this prefix, then the 32-byte seed.
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_HEAD = b"-----BEGIN PRIVATE KEY-----"
_PEM_TAIL = b"-----END PRIVATE KEY-----"
_NID_ED25519 = 1087  # EVP_PKEY_ED25519

# RFC 8032 section 7.1, tests 1 and 2: (secret, public, message, signature).
_VECTORS = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


class PemError(ValueError):
    """Not the PKCS#8 PEM form of an Ed25519 key that :func:`pem_of_seed` writes."""


class Backend(Protocol):
    """Ed25519 over raw keys: a 32-byte seed (the private key), a 32-byte public key."""

    name: str

    def private_key(self, seed: bytes) -> Any:
        """A handle of the private key ``seed``, for :meth:`sign` and :meth:`public_of`."""
        ...

    def public_of(self, key: Any) -> bytes: ...

    def sign(self, key: Any, data: bytes) -> bytes: ...

    def public_key(self, public: bytes) -> Any:
        """A handle of a public key; ValueError when it is not one (a wrong length)."""
        ...

    def verify(self, key: Any, signature: bytes, data: bytes) -> bool: ...


def pem_of_seed(seed: bytes) -> bytes:
    """The PKCS#8 PEM text of an Ed25519 private key (what ``cryptography`` writes too)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes")
    return _PEM_HEAD + b"\n" + base64.b64encode(_PKCS8_PREFIX + seed) + b"\n" + _PEM_TAIL + b"\n"


def seed_of_pem(data: bytes) -> bytes:
    """The seed of a key file in the form :func:`pem_of_seed` writes; PemError otherwise (the
    caller then asks ``cryptography``, which reads the other forms and says what is wrong)."""
    text = data.strip()
    if not (text.startswith(_PEM_HEAD) and text.endswith(_PEM_TAIL)):
        raise PemError("not a PKCS#8 PEM private key")
    try:
        der = base64.b64decode(b"".join(text[len(_PEM_HEAD):-len(_PEM_TAIL)].split()),
                               validate=True)
    except ValueError:
        raise PemError("bad base64 in the PEM body") from None
    if len(der) != 48 or not der.startswith(_PKCS8_PREFIX):
        raise PemError("not a plain PKCS#8 Ed25519 key")
    return der[16:]


def new_seed() -> bytes:
    """A new private key: 32 random bytes from the operating system."""
    return os.urandom(32)


class _PKey:
    """An ``EVP_PKEY *``, freed with the object."""

    __slots__ = ("_free", "ptr")

    def __init__(self, ptr: int, free: Any) -> None:
        self.ptr = ptr
        self._free = free

    def __del__(self) -> None:
        self._free(self.ptr)


class LibCrypto:
    """Ed25519 through OpenSSL's EVP interface (1.1.1 or later), the library of ``_ssl``."""

    name = "libcrypto"

    def __init__(self) -> None:
        import _ssl
        import ctypes
        from ctypes import POINTER, c_char_p, c_int, c_size_t, c_void_p

        lib = ctypes.CDLL(_ssl.__file__)  # dlsym searches _ssl's libraries: its libcrypto
        self._ct = ctypes
        p5 = [c_void_p] * 5

        def fn(name: str, res: Any, args: list[Any]) -> Any:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
            return f

        self._new_priv = fn("EVP_PKEY_new_raw_private_key", c_void_p,
                            [c_int, c_void_p, c_char_p, c_size_t])
        self._new_pub = fn("EVP_PKEY_new_raw_public_key", c_void_p,
                           [c_int, c_void_p, c_char_p, c_size_t])
        self._get_pub = fn("EVP_PKEY_get_raw_public_key", c_int,
                           [c_void_p, c_void_p, POINTER(c_size_t)])
        self._free = fn("EVP_PKEY_free", None, [c_void_p])
        self._ctx_new = fn("EVP_MD_CTX_new", c_void_p, [])
        self._ctx_free = fn("EVP_MD_CTX_free", None, [c_void_p])
        self._sign_init = fn("EVP_DigestSignInit", c_int, p5)
        self._sign = fn("EVP_DigestSign", c_int,
                        [c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t])
        self._verify_init = fn("EVP_DigestVerifyInit", c_int, p5)
        self._verify = fn("EVP_DigestVerify", c_int,
                          [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t])
        self._clear = fn("ERR_clear_error", None, [])

    def _key(self, make: Any, raw: bytes) -> _PKey:
        if len(raw) != 32:
            raise ValueError("an Ed25519 key is 32 bytes")
        ptr = make(_NID_ED25519, None, raw, 32)
        if not ptr:
            self._clear()
            raise ValueError("OpenSSL refused the Ed25519 key")
        return _PKey(ptr, self._free)

    def private_key(self, seed: bytes) -> _PKey:
        return self._key(self._new_priv, seed)

    def public_key(self, public: bytes) -> _PKey:
        return self._key(self._new_pub, public)

    def public_of(self, key: _PKey) -> bytes:
        buf = self._ct.create_string_buffer(32)
        n = self._ct.c_size_t(32)
        if self._get_pub(key.ptr, buf, self._ct.byref(n)) != 1 or n.value != 32:
            self._clear()
            raise ValueError("OpenSSL could not derive the public key")
        return buf.raw

    def sign(self, key: _PKey, data: bytes) -> bytes:
        ctx = self._ctx_new()
        try:
            buf = self._ct.create_string_buffer(64)
            n = self._ct.c_size_t(64)
            if (self._sign_init(ctx, None, None, None, key.ptr) != 1
                    or self._sign(ctx, buf, self._ct.byref(n), data, len(data)) != 1
                    or n.value != 64):
                self._clear()
                raise ValueError("OpenSSL could not sign")
            return buf.raw
        finally:
            self._ctx_free(ctx)

    def verify(self, key: _PKey, signature: bytes, data: bytes) -> bool:
        ctx = self._ctx_new()
        try:
            ok = bool(self._verify_init(ctx, None, None, None, key.ptr) == 1
                      and self._verify(ctx, signature, len(signature), data, len(data)) == 1)
            if not ok:
                self._clear()  # leave nothing in the error queue the ssl module reads
            return ok
        finally:
            self._ctx_free(ctx)


class Cryptography:
    """Ed25519 through the ``cryptography`` package."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey,
            Ed25519PublicKey,
        )

        self._bad = InvalidSignature
        self._priv = Ed25519PrivateKey
        self._pub = Ed25519PublicKey

    def private_key(self, seed: bytes) -> Any:
        return self._priv.from_private_bytes(seed)

    def public_key(self, public: bytes) -> Any:
        return self._pub.from_public_bytes(public)

    def public_of(self, key: Any) -> bytes:
        from cryptography.hazmat.primitives import serialization as s

        out: bytes = key.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
        return out

    def sign(self, key: Any, data: bytes) -> bytes:
        out: bytes = key.sign(data)
        return out

    def verify(self, key: Any, signature: bytes, data: bytes) -> bool:
        try:
            key.verify(signature, data)
        except self._bad:
            return False
        return True


def self_test(b: Backend) -> bool:
    """Whether ``b`` derives, signs and verifies RFC 8032's test vectors as the RFC says."""
    for secret, public, message, signature in _VECTORS:
        key, msg, sig = b.private_key(bytes.fromhex(secret)), bytes.fromhex(message), \
            bytes.fromhex(signature)
        pub = b.public_key(bytes.fromhex(public))
        if (b.public_of(key).hex() != public or b.sign(key, msg) != sig
                or not b.verify(pub, sig, msg) or b.verify(pub, sig, msg + b"x")):
            return False
    return True


_chosen: list[Backend] = []


def backend() -> Backend:
    """The backend of this process, chosen at the first call: libcrypto when it passes
    :func:`self_test`, else ``cryptography`` (ImportError, saying so, when neither is there)."""
    if not _chosen:
        try:
            lib: Backend | None = LibCrypto()
        except (ImportError, OSError, AttributeError):
            lib = None
        if lib is not None and self_test(lib):
            _chosen.append(lib)
        else:
            try:
                _chosen.append(Cryptography())
            except ImportError as e:
                raise ImportError(f"gossipreg signs with Ed25519: this Python's OpenSSL cannot "
                                  f"(1.1.1 or later is needed) and the 'cryptography' package "
                                  f"is missing ({e})") from e
    return _chosen[0]
