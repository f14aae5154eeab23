"""``gossipreg admin``: operator calls on one node, each needing the node's token.

    gossipreg admin forget-node NAME --node HOST:PORT --token T
    gossipreg admin rotate-identity --node HOST:PORT --token T

``forget-node`` releases the identity key the node pinned for ``NAME`` (on that node only: run
it on each node that refuses a node whose key was replaced on purpose); ``rotate-identity``
gives the node a new identity key endorsed by its current one (every peer takes it).
Exit status as the client commands': 0 done, 1 refused, 2 bad input or unreachable node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

__all__ = ["add_admin_parser", "run_admin"]


def add_admin_parser(sub: Any) -> None:
    """The ``admin`` command and its subcommands."""
    from gossipreg.cli.commands import add_client_options

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


async def _run(args: argparse.Namespace) -> tuple[int, Any, str]:
    from gossipreg.cli.commands import fetch

    if args.admin_command == "forget-node":
        status, data = await fetch(args, "POST", "/v1/admin/forget-node",
                                   body={"name": args.name})
        if status == 200:
            done = bool(data.get("forgotten"))
            return 0, data, (f"{args.node} forgot the key it pinned for {args.name}" if done
                             else f"{args.node} had no key pinned for {args.name}")
    else:
        status, data = await fetch(args, "POST", "/v1/admin/rotate-identity")
        if status == 200:
            return 0, data, f"{args.node} now signs with key {data.get('public_key')}"
    err = data.get("error", data) if isinstance(data, dict) else data
    return (1 if status in (403, 409) else 2), data, f"{args.node} answered {status}: {err}"


def run_admin(args: argparse.Namespace) -> int:
    from gossipreg.cli.commands import ClientError

    try:
        code, data, line = asyncio.run(_run(args))
    except ClientError as e:
        print(f"gossipreg: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code
