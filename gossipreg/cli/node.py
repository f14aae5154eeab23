"""``gossipreg node``: flags for every setting (see :mod:`gossipreg.io.settings`), then run a
node until SIGINT/SIGTERM; SIGHUP reloads the keyring from the key file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from gossipreg.core.config import NodeConfig
from gossipreg.io.settings import KNOBS, NODE_OPTIONS, Settings, env_name, resolve_settings

if TYPE_CHECKING:
    from aiohttp import web

    from gossipreg.io.api.guard import Handler
    from gossipreg.io.credentials.keys import KeyFileReloader
    from gossipreg.io.runner import NodeRunner

__all__ = ["add_node_arguments", "run_node_command"]

log = logging.getLogger("gossipreg.cli.node")

_METAVARS = {"join": "HOST:PORT", "bind": "HOST:PORT", "advertise": "HOST:PORT",
             "join_timeout": "SECONDS", "profile": "NAME", "log_level": "LEVEL",
             "paths": "PATHS"}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def add_node_arguments(p: argparse.ArgumentParser) -> None:
    """Every node option and NodeConfig knob as a flag (text, validated with the other
    sources); defaults are shown in the help, applied after file and environment."""
    p.add_argument("--config", metavar="FILE",
                   help=f"TOML file of settings (same names as the flags, with _); "
                        f"precedence: file < environment ({env_name('…')}) < flags; "
                        f"env {env_name('config')}")
    for key, (default, help_) in NODE_OPTIONS.items():
        if key == "metrics_open":  # a switch on the command line, true/false elsewhere
            p.add_argument("--metrics-open", dest=key, action="store_const", const=True,
                           default=None, help=f"{help_}; env {env_name(key)}")
            continue
        shown = "" if default in (None, []) else f" (default: {default})"
        p.add_argument(_flag(key), dest=key, metavar=_METAVARS.get(key, "VALUE" if key not in
                       ("key_file", "token_file", "tls_cert", "tls_key", "tls_ca",
                        "identity_file", "publisher_keys") else "FILE"),
                       action="append" if key == "join" else "store", default=None,
                       help=f"{help_}{shown}; env {env_name(key)}".replace("%", "%%"))
    lan = NodeConfig.lan()
    g = p.add_argument_group("protocol knobs (NodeConfig; defaults of the lan profile)")
    for key in KNOBS:
        field = NodeConfig.model_fields[key]
        g.add_argument(_flag(key), dest=key, metavar="DIR" if key == "data_dir" else "VALUE",
                       default=None,
                       help=f"{field.description} (default: {getattr(lan, key)}); "
                            f"env {env_name(key)}".replace("%", "%%"))


def _mount_admin(app: web.Application, node: NodeRunner, *, token: str | None,
                 reloader: KeyFileReloader | None) -> None:
    """The operator routes (:mod:`gossipreg.io.api.admin`), their module at the first request
    to one of them (mounted before the node starts)."""
    from gossipreg.io.api.routes import lazy_handlers
    from gossipreg.io.api.tables import ADMIN_ROUTES

    def load() -> dict[str, Handler]:
        from gossipreg.io.api.admin import admin_handlers

        return admin_handlers(node, token=token, reloader=reloader)

    lazy = lazy_handlers(load)
    for path, name in ADMIN_ROUTES:
        app.router.add_post(path, lazy(name))


async def _serve(s: Settings) -> int:
    from gossipreg.io.api.routes import serve_http
    from gossipreg.io.credentials.identity import identity_for
    from gossipreg.io.datadir import path_of
    from gossipreg.io.join_exit import wait_for_join
    from gossipreg.io.memory import trim_heap_every
    from gossipreg.io.net.links_transport import LinkTransport
    from gossipreg.io.runner import NodeRunner

    # Key files, TLS and publisher keys: their modules only for a node that has them.
    keyring = None
    if s.key_file:
        from gossipreg.io.credentials.keys import load_key_file

        keyring = load_key_file(s.key_file)
    # The node's parts, composed here: one HTTPS-capable server for gossip, API and admin,
    # beside UDP datagrams and WebSocket links for peers that offer them too (``paths``).
    transport = LinkTransport(s.bind, s.advertise, max_body=s.config.max_packet_size,
                              datagrams=s.paths == "all", streams=s.paths != "http",
                              max_datagram=s.config.max_datagram_size)
    if s.tls_cert or s.tls_key or s.tls_ca:
        from gossipreg.io.net.tls import apply_tls

        apply_tls(transport, s.tls_cert, s.tls_key, s.tls_ca)
    # Every node signs: its key file, else identity.key in its data directory (--data-dir, or
    # the default one of its cluster and name). With a mesh CA the CA binds the key to the name
    # (the certificate of --tls-cert certifies the key of --identity-file), so there it needs
    # --identity-file; without one the node signs nothing and says so.
    identity = None
    if s.identity_file or not s.tls_ca:
        identity = identity_for(s.name, s.config, identity_file=s.identity_file,
                                cert_file=s.tls_cert if s.tls_ca else None, ca_file=s.tls_ca)
    else:
        log.warning("no --identity-file: with a mesh CA (--tls-ca) a node signs with the key "
                    "its certificate certifies; this node signs nothing")
    keys = s.publisher_keys  # else the data directory's publishers/ folder, when it has one
    if keys is None and s.config.data_dir is not None:
        folder = path_of(s.config, "publishers")
        keys = str(folder) if folder.is_dir() else None
    publishers = None
    if keys:
        from gossipreg.io.credentials.publishers import PublisherKeys

        publishers = PublisherKeys(keys)
    node = NodeRunner(s.name, transport=transport, seeds=s.join, config=s.config,
                      keyring=keyring, identity=identity, publishers=publishers)
    serve_http(node, transport.app, token=s.token, metrics_open=s.metrics_open)
    reloader = None
    if s.key_file:
        from gossipreg.io.credentials.keys import KeyFileReloader

        reloader = KeyFileReloader(lambda keys: node.core.replace_keyring(keys), s.key_file)
    _mount_admin(transport.app, node, token=s.token, reloader=reloader)
    await node.start()
    print(f"gossipreg node {node.name} listening on {s.bind}, advertising {node.address}",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if reloader is not None:
        loop.add_signal_handler(signal.SIGHUP, reloader.reload_logged)
    if not await wait_for_join(node, s.join_timeout, stop):
        await node.shutdown()
        return 1
    trimmer = asyncio.create_task(trim_heap_every())  # the start's garbage back to the system
    await stop.wait()
    trimmer.cancel()
    await node.leave()
    await node.shutdown()
    print(f"gossipreg node {node.name} left the mesh", flush=True)
    return 0


def run_node_command(args: argparse.Namespace) -> int:
    """Resolve the settings (raises ConfigError with the source of a bad value) and run."""
    flags: dict[str, Any] = {k: getattr(args, k, None) for k in (*NODE_OPTIONS, *KNOBS)}
    s = resolve_settings(flags, config_file=args.config)
    # The node's own loggers at the level asked for; other libraries' stay at warning.
    logging.getLogger("gossipreg").setLevel(s.log_level.upper())
    return asyncio.run(_serve(s))
