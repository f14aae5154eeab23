"""``gossipreg admin``: operator calls on one node, each needing the node's token.

    gossipreg admin forget-node NAME --node HOST:PORT --token T
    gossipreg admin rotate-identity --node HOST:PORT --token T

``forget-node`` releases the identity key the node pinned for ``NAME`` (on that node only: run
it on each node that refuses a node whose key was replaced on purpose); ``rotate-identity``
gives the node a new identity key endorsed by its current one (every peer takes it).
Errors and exit status follow the client commands' model (:mod:`gossipreg.cli.client`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

__all__ = ["add_admin_parser", "run_admin"]


def add_admin_parser(sub: Any) -> None:
    """The ``admin`` command and its subcommands."""
    from gossipreg.cli.client import add_client_options

    a = sub.add_parser("admin", help="operator calls on one node (need its token)")
    ops = a.add_subparsers(dest="admin_command", required=True, metavar="OPERATION",
                           help="forget-node or rotate-identity")
    f = ops.add_parser("forget-node", help="release the identity key this node pinned for a "
                                           "name (this node only; never gossiped)")
    f.add_argument("name", help="the node name to release")
    r = ops.add_parser("rotate-identity", help="give this node a new identity key, endorsed "
                                               "by its current one")
    for p in (f, r):
        add_client_options(p)


async def _run(args: argparse.Namespace) -> tuple[Any, str]:
    from gossipreg.cli.client import fetch

    if args.admin_command == "forget-node":
        data = await fetch(args, "POST", "/v1/admin/forget-node", body={"name": args.name})
        return data, (f"{args.node} forgot the key it pinned for {args.name}"
                      if data.get("forgotten") else f"{args.node} had no key pinned for "
                                                    f"{args.name}")
    data = await fetch(args, "POST", "/v1/admin/rotate-identity")
    return data, f"{args.node} now signs with key {data.get('public_key')}"


def run_admin(args: argparse.Namespace) -> int:
    """Run one admin operation; the exit status of the error model (:mod:`gossipreg.cli.client`)."""
    from gossipreg.cli.client import ApiError, fail

    try:
        data, line = asyncio.run(_run(args))
    except ApiError as e:
        return fail(e)
    print(json.dumps(data, indent=2) if args.json else line)
    return 0
