"""TLS for a node's one HTTP server and its client: gossip and API alike.

With TLS on, a node offers no UDP datagrams (``LinkTransport`` turns them off): its frames
travel over WebSocket links (``wss://``) and HTTPS POSTs, so TLS on the aiohttp server and on
the transport's client session covers every node-to-node byte.

- ``cert`` + ``key``: the server speaks HTTPS only, and the transport dials ``https://``.
- ``ca``: peers are verified against it, both ways. A node presents its own certificate when
  it dials (mutual TLS); the server asks every client for one (``CERT_OPTIONAL``): an invalid
  one fails the handshake, and the gossip endpoint refuses a client that presented none
  (403 ``no_client_certificate``), so a node without a certificate from the CA never joins,
  while API clients are not forced to hold one (the bearer token guards the API). Peers are
  dialed by address, so node certificates carry their IP addresses (or names) as SANs. With an
  identity key (``--identity-file``, the same key as ``--tls-key``) the certificate also names
  the node, SAN URI ``gossipreg://<cluster>/<name>``: peers then take its identity key from it
  (:mod:`gossipreg.io.credentials.identity`).
- Without ``ca`` the client verifies servers against the system's trust store.
"""

from __future__ import annotations

import ssl

from gossipreg.core.errors import ConfigError
from gossipreg.io.net.transport import HttpTransport

__all__ = ["apply_tls", "client_context", "server_context"]


def server_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if ca is not None:
        ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(cert: str | None, key: str | None, ca: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None and key is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def apply_tls(transport: HttpTransport, cert: str | None, key: str | None,
              ca: str | None) -> None:
    """Switch ``transport`` to TLS (before it starts). Raises ConfigError for an incomplete
    or unreadable set of files."""
    if cert is None and key is None and ca is None:
        return
    if (cert is None) != (key is None):
        raise ConfigError("tls_cert and tls_key go together")
    if cert is None or key is None:
        raise ConfigError("tls_ca needs tls_cert and tls_key (this node's own certificate)")
    try:
        transport.server_ssl = server_context(cert, key, ca)
        transport.client_ssl = client_context(cert, key, ca)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"cannot load the TLS files: {e}") from None
    transport.require_peer_cert = ca is not None
