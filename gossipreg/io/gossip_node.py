"""``GossipNode``: a node with the default composition, for the common case.

A :class:`~gossipreg.io.runner.NodeRunner` over a
:class:`~gossipreg.io.links_transport.LinkTransport` bound to ``bind`` (HTTP POST, UDP
datagrams and WebSocket links, each per peer; ``datagrams=False`` and ``links=False`` turn the
new paths off) with the HTTP API mounted on the same server (or over an in-memory hub with
``network``, or over a ``transport`` the caller built, without the API: then the caller mounts
what it wants with :func:`gossipreg.io.api.routes.serve_http`). The registry uses it; the CLI
composes the parts itself (TLS and admin routes go on the same server).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.wire.keyring import Keyring
from gossipreg.io.api.routes import serve_http
from gossipreg.io.links_transport import LinkTransport
from gossipreg.io.runner import NodeRunner
from gossipreg.io.transport import HttpTransport, MemoryNetwork, Transport

__all__ = ["GossipNode"]


class GossipNode(NodeRunner):
    """A running gossip node.

    ``bind`` is ``host:port`` (port 0 picks a free one; IPv6 as ``[::1]:0``; ``0.0.0.0``
    advertises the address of the route towards the first seed), ``advertise`` the address
    peers should use when it differs (NAT, containers), ``token`` the bearer token of the
    HTTP API. With ``network`` the node uses an in-memory hub instead of HTTP (tests and
    single-process examples); with ``transport`` one the caller built. Use it as
    ``async with GossipNode(...) as node:`` or call :meth:`start` and :meth:`shutdown`.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        bind: str = "127.0.0.1:0",
        advertise: str | None = None,
        seeds: Sequence[str] = (),
        config: NodeConfig | None = None,
        keyring: Keyring | None = None,
        network: MemoryNetwork | None = None,
        transport: Transport | None = None,
        generation: int | None = None,
        rng: random.Random | None = None,
        token: str | None = None,
        datagrams: bool = True,
        links: bool = True,
    ) -> None:
        if network is not None and transport is not None:
            raise InvalidArgumentError("pass network or transport, not both")
        name = name or f"node-{secrets.token_hex(4)}"
        cfg = config or NodeConfig.lan()
        http: HttpTransport | None = None
        if transport is None:
            if network is not None:
                transport = network.transport(name)
            else:
                transport = http = LinkTransport(
                    bind, advertise, max_body=cfg.max_packet_size, datagrams=datagrams,
                    streams=links, max_datagram=cfg.max_datagram_size)
        super().__init__(name, transport=transport, seeds=seeds, config=cfg, keyring=keyring,
                         generation=generation, rng=rng)
        if http is not None:
            serve_http(self, http.app, token=token)
