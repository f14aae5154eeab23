"""``python -m sim.mesh.node_main``: a gossipreg node for the harness with config overrides
(``--set tombstone_ttl=300``), so that a benchmark can try a setting without the product
growing an option for it. Otherwise the same as ``gossipreg node``: the same ``GossipNode``,
HTTP API and graceful leave on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from gossipreg.core.config import NodeConfig
from gossipreg.io.gossip_node import GossipNode

__all__ = ["main"]


async def _run(args: argparse.Namespace) -> None:
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    profile = {"local": NodeConfig.local, "lan": NodeConfig.lan, "wan": NodeConfig.wan}
    node = GossipNode(args.name, bind=args.bind, seeds=args.join,
                      config=profile[args.profile](**overrides))
    await node.start()
    print(f"gossipreg node {node.name} listening on {node.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.leave()
    await node.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m sim.mesh.node_main")
    ap.add_argument("--name", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--join", action="append", default=[])
    ap.add_argument("--profile", default="lan", choices=["local", "lan", "wan"])
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=SECONDS")
    asyncio.run(_run(ap.parse_args()))


if __name__ == "__main__":
    main()
