"""With a mesh CA (``--tls-ca``) names are bound by the CA, not pinned on first use: each node's
TLS key is its identity key, certified with the SAN URI ``gossipreg://<cluster>/<name>`` beside
its IP; the certificate travels with the node's Alive. Over real mutual TLS (127.0.0.1 port 0,
bounded waits): three nodes take each other's keys from their certificates; a node restarted
with a new key and a new certificate keeps its name with no forget-node; a node whose
certificate names another node is refused (``unbound_key``)."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gossipreg import ConfigError, NodeConfig
from gossipreg.core.trust.proofs import Identity
from gossipreg.core.types import MemberState
from gossipreg.io.credentials.identity import NodeIdentity, name_uri
from gossipreg.io.net.tls import apply_tls
from gossipreg.io.net.transport import HttpTransport
from gossipreg.io.runner import NodeRunner
from tests.support import until

pytestmark = pytest.mark.network

CFG = NodeConfig.local(heartbeat_timeout=None)
NOW = datetime.datetime.now(datetime.UTC)


class Ca:
    """A throwaway mesh CA that certifies identity keys."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesh CA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(NOW - datetime.timedelta(minutes=5))
                     .not_valid_after(NOW + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.path = folder / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, key_file: Path, names: str | None = None) -> Path:
        """A certificate of the key in ``key_file`` (made when missing) naming ``names``."""
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            key_file.chmod(0o600)
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW - datetime.timedelta(minutes=5))
                .not_valid_after(NOW + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.UniformResourceIdentifier(name_uri(CFG.cluster, names or name))]),
                    False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .sign(self.key, hashes.SHA256()))
        out = key_file.with_suffix(".pem")
        out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return out


def ca_node(ca: Ca, name: str, key: Path, cert: Path, seeds: list[str]) -> NodeRunner:
    """A node as ``gossipreg node --identity-file KEY --tls-key KEY --tls-cert CERT --tls-ca``
    composes it."""
    transport = HttpTransport("127.0.0.1:0")
    apply_tls(transport, str(cert), str(key), str(ca.path))
    ident = NodeIdentity(key, node=name, cluster=CFG.cluster, cert_file=cert, ca_file=ca.path)
    return NodeRunner(name, transport=transport, seeds=seeds, config=CFG, identity=ident)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[tuple[Ca, dict[str, NodeRunner]]]:
    ca = Ca(tmp_path)
    nodes: dict[str, NodeRunner] = {}
    try:
        for name in ("A", "B", "C"):
            key = tmp_path / name / "identity.key"
            cert = ca.issue(name, key)
            seeds = [nodes["A"].address] if nodes else []
            nodes[name] = await ca_node(ca, name, key, cert, seeds).start()
        yield ca, nodes
    finally:
        for n in nodes.values():
            await n.shutdown()


def seen(nodes: dict[str, NodeRunner], name: str) -> dict[str, tuple[int, MemberState]]:
    out = {}
    for k, n in nodes.items():
        if k != name and n.running:
            m = {i.node_id: i for i in n.members()}.get(name)
            if m is not None:
                out[k] = (m.generation, m.state)
    return out


async def test_the_mesh_ca_binds_names_to_keys(
        mesh: tuple[Ca, dict[str, NodeRunner]], tmp_path: Path) -> None:
    ca, nodes = mesh
    assert await until(lambda: all(set(n.core.pinned()[0]) == set(nodes) - {k}
                                   for k, n in nodes.items()), 10.0)
    # B comes back with a new key and the CA's certificate of it: taken, no forget-node.
    b = nodes["B"]
    old_key = b.core.trust.public_key  # type: ignore[union-attr]
    await b.shutdown()
    key = tmp_path / "B2" / "identity.key"
    b = nodes["B"] = await ca_node(ca, "B", key, ca.issue("B", key), [nodes["A"].address]
                                   ).start()
    new_key = b.core.trust.public_key  # type: ignore[union-attr]
    assert new_key != old_key
    assert await until(lambda: seen(nodes, "B") == {
        "A": (b.core.generation, MemberState.ALIVE),
        "C": (b.core.generation, MemberState.ALIVE)}, 10.0), seen(nodes, "B")
    assert all(n.core.pinned()[0]["B"] == new_key for k, n in nodes.items() if k != "B")
    assert all(not n.core.metrics.dropped.get("key_mismatch") for n in nodes.values())
    # A node whose certificate names another node: its TLS is fine, its name is not.
    key = tmp_path / "D" / "identity.key"
    cert = ca.issue("D", key, names="E")
    with pytest.raises(ConfigError, match="does not bind this node"):
        NodeIdentity(key, node="D", cluster=CFG.cluster, cert_file=cert,
                     ca_file=ca.path).load()
    transport = HttpTransport("127.0.0.1:0")
    apply_tls(transport, str(cert), str(key), str(ca.path))

    class Impostor(NodeIdentity):
        def load(self) -> Identity:  # it speaks as D with E's certificate
            return NodeIdentity(key, node="E", cluster=CFG.cluster, cert_file=cert,
                                ca_file=ca.path).load()

    impostor = NodeRunner("D", transport=transport, seeds=[nodes["A"].address], config=CFG,
                          identity=Impostor(key, node="D", cluster=CFG.cluster))
    try:
        await impostor.start()
        assert await until(lambda: nodes["A"].core.metrics.dropped.get("unbound_key", 0) > 0,
                           10.0)
        assert "D" not in {m.node_id for m in nodes["A"].members()}
    finally:
        await impostor.shutdown()
