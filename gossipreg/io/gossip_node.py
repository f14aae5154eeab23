"""``GossipNode``: a node with the default composition, for the common case.

A :class:`~gossipreg.io.runner.NodeRunner` over a
:class:`~gossipreg.io.net.links_transport.LinkTransport` bound to ``bind`` (HTTP POST, UDP
datagrams and WebSocket links, each per peer; ``datagrams=False`` and ``links=False`` turn the
new paths off) with the HTTP API mounted on the same server (or over an in-memory hub with
``network``, or over a ``transport`` the caller built, without the API: then the caller mounts
what it wants with :func:`gossipreg.io.api.routes.serve_http`). The registry uses it; the CLI
composes the parts itself (TLS and admin routes go on the same server).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.route.select import Candidate
from gossipreg.core.wire.keyring import Keyring
from gossipreg.io.api.routes import serve_http
from gossipreg.io.credentials.identity import identity_for
from gossipreg.io.credentials.publishers import PublisherKeys
from gossipreg.io.net.links_transport import LinkTransport
from gossipreg.io.net.transport import HttpTransport, MemoryNetwork, Transport
from gossipreg.io.route.router import Router, SendResult, router_for
from gossipreg.io.runner import NodeRunner

if TYPE_CHECKING:  # the embedders' package is imported with an embedder only
    from gossipreg.io.embed.protocol import Embedder

__all__ = ["GossipNode"]


class GossipNode(NodeRunner):
    """A running gossip node.

    ``bind`` is ``host:port`` (port 0 picks a free one; IPv6 as ``[::1]:0``; ``0.0.0.0``
    advertises the address of the route towards the first seed), ``advertise`` the address
    peers should use when it differs (NAT, containers), ``token`` the bearer token of the
    HTTP API. With ``network`` the node uses an in-memory hub instead of HTTP (tests and
    single-process examples); with ``transport`` one the caller built. ``embedder`` (an
    :class:`~gossipreg.io.embed.Embedder`) overrides ``config.embedder`` for search. Use it as
    ``async with GossipNode(...) as node:`` (leaving the block leaves the mesh gracefully) or
    call :meth:`start`, then :meth:`leave` and :meth:`shutdown`. With ``config.data_dir`` it
    keeps the agents it owns across restarts (:mod:`gossipreg.io.persist`). A node signs what it
    writes and checks what others sign with its Ed25519 key
    (:mod:`gossipreg.io.credentials.identity`):
    ``identity_file``, else ``identity.key`` in ``config.data_dir``, else, for a named node over
    HTTP, in the default directory of its cluster and name (created at the first start); an
    unnamed or in-memory node without either signs nothing. ``sign`` overrides that rule
    (False: never, as a node of an earlier release). ``publisher_keys`` is a
    JWKS file (or a directory of them) of the card publishers it trusts: signed agent cards
    show ``card_verified`` by them (:mod:`gossipreg.io.credentials.publishers`).
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
        embedder: Embedder | None = None,
        identity_file: str | None = None,
        publisher_keys: str | None = None,
        sign: bool | None = None,
        datagrams: bool = True,
        links: bool = True,
    ) -> None:
        if network is not None and transport is not None:
            raise InvalidArgumentError("pass network or transport, not both")
        given_name = name is not None
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
        # A named node on the network signs (its key kept per cluster and name); an unnamed or
        # in-memory one only with a key file or a data directory.
        signs = sign if sign is not None else (
            identity_file is not None or cfg.data_dir is not None
            or (given_name and http is not None))
        identity = (identity_for(name, cfg, identity_file=identity_file) if signs else None)
        super().__init__(name, transport=transport, seeds=seeds, config=cfg, keyring=keyring,
                         generation=generation, rng=rng, embedder=embedder, identity=identity,
                         publishers=None if publisher_keys is None
                         else PublisherKeys(publisher_keys))
        if http is not None:
            serve_http(self, http.app, token=token)

    # ------------------------------------------------------- select and send
    @property
    def router(self) -> Router:
        """This node's select/send state (cursors, breakers, counters), shared with its API."""
        return router_for(self)

    def select(self, text: str | None = None, *, capability: str | None = None,
               agent_ids: Sequence[str] | None = None, strategy: Any = "best", k: int = 3,
               filters: Mapping[str, Any] | None = None, status: Any = None,
               verified_only: bool = False) -> list[Candidate]:
        """Agents to give a task to, best first: by free ``text`` (ranked search),
        ``capability`` or ``agent_ids``; ``strategy`` ``best``, ``round_robin``, ``random``,
        ``least_loaded`` or a function of the offered candidates; ARD ``filters``; ACTIVE
        agents unless ``status`` says otherwise; ``verified_only``: agents whose card signature this
        node verified. Raises ``NoMatchError`` when none matches."""
        return self.router.select(text, capability=capability, agent_ids=agent_ids,
                                  strategy=strategy, k=k, filters=filters, status=status,
                                  verified_only=verified_only)

    async def send(self, text: str | None = None, *, message: Any,
                   capability: str | None = None, agent_ids: Sequence[str] | None = None,
                   strategy: Any = "best", filters: Mapping[str, Any] | None = None,
                   status: Any = None, deadline: float = 30.0, attempts: int = 3,
                   idempotent: bool = False, verified_only: bool = False) -> SendResult:
        """Select as :meth:`select` does and deliver ``message`` (a text or an A2A
        ``Message``) over A2A, failing over to the next agent within ``deadline`` seconds and
        ``attempts`` agents (see ``gossipreg.io.route.router``). Raises
        ``InvalidArgumentError`` before sending anything for bad input, ``NoMatchError``, or
        ``SendFailedError`` (with ``attempts``) when no agent answered."""
        r = self.router
        q = r.query(text, capability=capability, agent_ids=agent_ids, filters=filters,
                    status=status, verified_only=verified_only)
        return await r.send(r.plan(message, q, strategy, deadline=deadline, attempts=attempts,
                                   idempotent=idempotent))

    async def send_stream(self, text: str | None = None, *, message: Any,
                          capability: str | None = None,
                          agent_ids: Sequence[str] | None = None, strategy: Any = "best",
                          filters: Mapping[str, Any] | None = None, status: Any = None,
                          deadline: float = 30.0, attempts: int = 3, idempotent: bool = False,
                          verified_only: bool = False) -> AsyncIterator[tuple[str, Any]]:
        """:meth:`send` with the agent's events passed on as they come: ``("response",
        json)`` per event, ``("attempt", Attempt)`` per try, ``("result", SendResult)``."""
        r = self.router
        q = r.query(text, capability=capability, agent_ids=agent_ids, filters=filters,
                    status=status, verified_only=verified_only)
        plan = r.plan(message, q, strategy, deadline=deadline, attempts=attempts,
                      idempotent=idempotent, stream=True)
        async for item in r.run(plan):
            yield item

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.router.close()
