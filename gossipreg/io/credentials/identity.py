"""A node's identity on disk: its Ed25519 key, the rotation that endorsed it, the keys it pinned.

Files (docs/design/shapes.md §3), found from the key file's path, by default in the data
directory (``--data-dir``, else the default one per cluster and name, :func:`identity_for`):

- ``identity.key``: the node's Ed25519 private key, PKCS#8 PEM, mode 0600 (its directory is
  created 0700), made at the first start;
- ``identity.key.rotation``: after a rotation, the previous public key and its signature of
  the move to the current one (JSON; peers that pinned the previous key need it);
- ``identity.pin``: the public keys this node pinned for other names (JSON with the cluster
  and node it belongs to; a file of another cluster or node is refused, never half-loaded).

Every file is written atomically (a temporary file in the same directory, fsync, rename, fsync
of the directory). Signing and verifying use :mod:`gossipreg.io.credentials.ed25519` (the OpenSSL of
Python's ``ssl`` module, else ``cryptography``); the core gets them as the injected
:class:`~gossipreg.core.trust.proofs.Identity`. ``cryptography`` is imported only to read
certificates (a mesh CA) and key files in another encoding than the one written here.

With a mesh CA (``--tls-ca``) the node's TLS key is its identity key: the CA certifies it with
the SAN URI ``gossipreg://<cluster>/<name>`` (beside the IP SANs TLS dialing needs), the
certificate travels with the node's Alive, and peers take a key for a name only with such a
certificate (:class:`CaBinder`): no trust on first use, and a re-issued certificate for a new
key is accepted as it is (nothing to forget).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import ConfigError, NodeStateError
from gossipreg.core.trust.proofs import Identity, Payloads
from gossipreg.io.credentials import ed25519
from gossipreg.io.datadir import DataDir, atomic_write
from gossipreg.io.reads import RunnerParts

__all__ = ["CaBinder", "Ed25519Signer", "Ed25519Verifier", "KeyCalls", "NodeIdentity",
           "identity_for", "name_uri"]

_FORMAT = 1


class Ed25519Signer:
    """Signs with one Ed25519 private key, given as its 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        self._b = ed25519.backend()
        self._seed = seed
        self._key = self._b.private_key(seed)
        self._public = self._b.public_of(self._key)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A signer of a new random key."""
        return cls(ed25519.new_seed())

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    def sign(self, data: bytes) -> bytes:
        return self._b.sign(self._key, data)

    def pem(self) -> bytes:
        """The private key as the key file holds it (PKCS#8 PEM)."""
        return ed25519.pem_of_seed(self._seed)


class Ed25519Verifier:
    """Verifies Ed25519 signatures (public key objects are kept, one per key seen)."""

    def __init__(self) -> None:
        self._b = ed25519.backend()
        self._keys: dict[bytes, Any] = {}

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        k = self._keys.get(public_key)
        if k is None:
            try:
                k = self._b.public_key(public_key)
            except ValueError:
                return False
            if len(self._keys) > 65536:
                self._keys.clear()
            self._keys[public_key] = k
        return self._b.verify(k, signature, data)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: object, what: str, size: int) -> bytes:
    try:
        b = base64.b64decode(str(s), validate=True)
    except ValueError:
        b = b""
    if len(b) != size:
        raise ConfigError(f"{what}: not a base64 value of {size} bytes")
    return b


def name_uri(cluster: str, node: str) -> str:
    """The SAN URI by which a mesh CA's certificate names a node."""
    return f"gossipreg://{quote(cluster, safe='')}/{quote(node, safe='')}"


class CaBinder:
    """With ``--tls-ca``: whether a certificate (DER) from the mesh CA binds a node name to an
    Ed25519 public key (it chains to the CA, is within its validity, names the node by the SAN
    URI ``gossipreg://<cluster>/<name>``, and certifies that key)."""

    def __init__(self, ca_file: str | os.PathLike[str], cluster: str) -> None:
        from cryptography import x509  # only with a mesh CA: ~9 MB a node without one saves

        try:
            self.cas = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the CA bundle {ca_file}: {e}") from None
        self.cluster = cluster

    def __call__(self, node: str, key: bytes, der: bytes) -> bool:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            cert = x509.load_der_x509_certificate(der)
            pub = cert.public_key()
            if not isinstance(pub, Ed25519PublicKey) or pub.public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw) != key:
                return False
            now = datetime.datetime.now(datetime.UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return False
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if name_uri(self.cluster, node) not in san.get_values_for_type(
                    x509.UniformResourceIdentifier):
                return False
        except (ValueError, x509.ExtensionNotFound):
            return False
        for ca in self.cas:
            try:
                cert.verify_directly_issued_by(ca)
                return True
            except (ValueError, TypeError, InvalidSignature):
                continue
        return False


def identity_for(name: str, config: NodeConfig, *, identity_file: str | None = None,
                 cert_file: str | None = None, ca_file: str | None = None) -> NodeIdentity:
    """The identity of node ``name``: its key in ``identity_file`` when given, else
    ``identity.key`` of its data directory (``config.data_dir``, else
    :func:`~gossipreg.io.datadir.default_dir` of its cluster and name, so a restart under the
    same name keeps its key). The directory is opened (created 0700) here; DataDirError when
    it cannot be."""
    path = (Path(identity_file).expanduser() if identity_file is not None
            else DataDir.open(config, node=name).path_of("identity.key"))
    return NodeIdentity(path, node=name, cluster=config.cluster, cert_file=cert_file,
                        ca_file=ca_file)


class NodeIdentity:
    """The identity files of one node (``node`` of ``cluster``), from its key file's path.
    :meth:`load` reads them, creating the key at the first start. With ``ca_file`` (the mesh
    CA, ``--tls-ca``) names are bound by the CA: ``cert_file`` is this node's certificate for
    its identity key (the same key serves TLS), and peers' keys are taken only with theirs."""

    def __init__(self, key_file: str | os.PathLike[str], *, node: str, cluster: str,
                 cert_file: str | os.PathLike[str] | None = None,
                 ca_file: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(key_file)
        self.node = node
        self.cluster = cluster
        self.cert_file = None if cert_file is None else Path(cert_file)
        self.ca_file = ca_file
        self.rotation_path = self.path.with_name(self.path.name + ".rotation")
        self.pin_path = self.path.with_suffix(".pin")
        self._saved = -1
        self.signer: Ed25519Signer | None = None
        self.rotation: bytes | None = None

    # ------------------------------------------------------------------ key
    def load(self) -> Identity:
        """The identity the core signs with: read, or created (0600, in a 0700 directory) when
        the key file does not exist. Raises ConfigError for an unreadable or foreign file."""
        if not self.path.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.path, ed25519.pem_of_seed(ed25519.new_seed()))
            self.rotation_path.unlink(missing_ok=True)  # a rotation of another key
        self.signer = self._read_key()
        self.rotation = self._read_rotation()
        return self._identity()

    def _identity(self) -> Identity:
        assert self.signer is not None
        if self.ca_file is None:
            return Identity(self.signer, Ed25519Verifier(), self.rotation)
        binder = CaBinder(self.ca_file, self.cluster)
        if self.cert_file is None:
            raise ConfigError("with a mesh CA (--tls-ca) a node's certificate must certify its "
                              "identity key: give --tls-cert for the --identity-file key")
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            der = x509.load_pem_x509_certificate(self.cert_file.read_bytes()).public_bytes(
                serialization.Encoding.DER)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the certificate {self.cert_file}: {e}") from None
        if not binder(self.node, self.signer.public_key, der):
            raise ConfigError(
                f"{self.cert_file} does not bind this node to its identity key: the mesh CA "
                f"must certify the key of {self.path} with the SAN URI "
                f"{name_uri(self.cluster, self.node)}")
        return Identity(self.signer, Ed25519Verifier(), None, der, binder)

    def _read_key(self) -> Ed25519Signer:
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read the identity key {self.path}: {e}") from None
        try:
            return Ed25519Signer(ed25519.seed_of_pem(data))  # the form written here
        except ed25519.PemError:
            pass
        # Another encoding (or not a key at all): cryptography reads it, or says what is wrong.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"cannot read the identity key {self.path}: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"the identity key {self.path} is not an Ed25519 key")
        return Ed25519Signer(key.private_bytes_raw())

    def _read_rotation(self) -> bytes | None:
        if not self.rotation_path.exists():
            return None
        try:
            d = json.loads(self.rotation_path.read_text())
            new = _unb64(d["key"], str(self.rotation_path), 32)
            sig = _unb64(d["signature"], str(self.rotation_path), 64)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot read {self.rotation_path}: {e}") from None
        assert self.signer is not None
        # A rotation proof of another key (the key file was replaced since) is not ours.
        return sig if new == self.signer.public_key else None

    def rotate(self) -> Identity:
        """A new key, endorsed by the current one: both files are written (the key file last
        would lose the proof on a crash, so the proof goes first) and the new identity is
        returned for :meth:`gossipreg.core.node.Node.rotate_identity`."""
        if self.ca_file is not None:
            raise NodeStateError("with a mesh CA a new key needs a new certificate: have the "
                                 "CA certify a new key, then restart the node with both")
        if self.signer is None:
            self.load()
        assert self.signer is not None
        new = Ed25519Signer.generate()
        sig = self.signer.sign(Payloads(self.cluster).rotation(self.node, new.public_key))
        atomic_write(self.rotation_path, json.dumps(
            {"format": _FORMAT, "node": self.node, "cluster": self.cluster,
             "previous": _b64(self.signer.public_key), "key": _b64(new.public_key),
             "signature": _b64(sig)}).encode())
        atomic_write(self.path, new.pem())
        self.signer, self.rotation = new, sig
        return Identity(new, Ed25519Verifier(), sig)

    # ----------------------------------------------------------------- pins
    def load_pins(self) -> dict[str, bytes]:
        """The pins an earlier run saved (none yet: empty)."""
        if not self.pin_path.exists():
            return {}
        try:
            d = json.loads(self.pin_path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {self.pin_path}: {e}") from None
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ConfigError(f"{self.pin_path}: not a gossipreg pin file (format {_FORMAT})")
        if d.get("cluster") != self.cluster or d.get("node") != self.node:
            raise ConfigError(f"{self.pin_path} belongs to node {d.get('node')!r} of cluster "
                              f"{d.get('cluster')!r}, not {self.node!r} of {self.cluster!r}")
        pins = d.get("pins")
        if not isinstance(pins, dict):
            raise ConfigError(f"{self.pin_path}: pins must be an object")
        return {str(k): _unb64(v, f"{self.pin_path} pin of {k}", 32) for k, v in pins.items()}

    def save_pins(self, pins: Mapping[str, bytes], version: int) -> bool:
        """Write ``pins`` when ``version`` (the judge's change counter) moved since the last
        save; whether it wrote."""
        if version == self._saved:
            return False
        atomic_write(self.pin_path, json.dumps(
            {"format": _FORMAT, "cluster": self.cluster, "node": self.node,
             "pins": {k: _b64(v) for k, v in sorted(pins.items())}}, indent=1).encode())
        self._saved = version
        return True


class KeyCalls(RunnerParts):
    """The identity calls of :class:`~gossipreg.io.runner.NodeRunner` (its frame keyring's
    are :class:`~gossipreg.io.reads.NodeReads`')."""

    identity: NodeIdentity | None

    def save_pins(self) -> bool:
        """Write the pinned keys when they changed since the last save (the runner calls it
        on its timer and at shutdown); whether it wrote."""
        if self.identity is None:
            return False
        pins, version = self.core.pinned()
        return self.identity.save_pins(pins, version)

    def rotate_identity(self) -> bytes:
        """Replace this node's key with a new one endorsed by the current key (the key file and
        its rotation proof are rewritten; peers that pinned the old key take the new one);
        returns the new public key. NodeStateError without an identity file."""
        if self.identity is None:
            raise NodeStateError("this node has no identity file to rotate")
        new = self.identity.rotate()
        self.core.rotate_identity(new, self._now())
        self._pump()
        return new.signer.public_key

    def forget_node(self, name: str) -> bool:
        """Release the key pinned for ``name`` on this node only (see
        :meth:`gossipreg.core.node.Node.forget_node`); saved at once."""
        out = self.core.forget_node(name)
        self.save_pins()
        return out
