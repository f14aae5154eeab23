"""The ``gossipreg`` command: run a node, query one, or watch a live demo mesh.

    gossipreg demo [--nodes 3]
    gossipreg node --name NAME --bind HOST:PORT [--advertise HOST:PORT] [--join HOST:PORT ...]
                   [--cluster NAME] [--key-file FILE] [--token T] [--profile local|lan|wan]
    gossipreg agents|members|events --node HOST:PORT [--token T] [--json] ...
    gossipreg search "TEXT" --node HOST:PORT [--tag T] [--runtime R] [--filter PATH=VALUE]
    gossipreg select "TEXT" --node HOST:PORT [--strategy S] [-k N]
    gossipreg send "TEXT" --message "..." --node HOST:PORT [--strategy S] [--deadline S]
    gossipreg load AGENT_ID ACTIVE MAX --node HOST:PORT
    gossipreg mcp --node HOST:PORT      (an MCP server on stdio: find/select/send as tools)
    gossipreg keygen
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from gossipreg.cli.search import add_search_parser, run_search

__all__ = ["main"]

async def _get(args: argparse.Namespace, path: str, params: dict[str, str] | None = None
               ) -> Any:
    import aiohttp

    from gossipreg.cli.commands import ClientError, fetch

    try:
        status, data = await fetch(args, "GET", path, params=params)
    except ClientError as e:
        raise aiohttp.ClientError(str(e)) from None
    if status != 200:
        raise SystemExit(f"gossipreg: {args.node} answered {status}: {data}")
    return data


def _table(rows: list[dict[str, Any]], cols: Sequence[str]) -> str:
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


async def _query(args: argparse.Namespace) -> int:
    import aiohttp

    try:
        if args.command == "members":
            rows = await _get(args, "/v1/members")
            print(json.dumps(rows, indent=2) if args.json else
                  _table(rows, ("node_id", "address", "state", "incarnation", "generation")))
        elif args.command == "agents":
            params = {k: v for k, v in (("capability", args.capability), ("status", args.status),
                                        ("runtime", args.runtime)) if v is not None}
            rows = await _get(args, "/v1/agents", params)
            flat = [{**r, "capabilities": ", ".join(r["capabilities"]),
                     "endpoint": (r.get("endpoints") or [{"url": "-"}])[0]["url"]}
                    for r in rows]
            print(json.dumps(rows, indent=2) if args.json else  # --json keeps real lists
                  _table(flat, ("agent_id", "name", "runtime_id", "node_id", "status",
                                "endpoint", "capabilities")))
        else:
            await _events(args)
    except aiohttp.ClientError as e:
        print(f"gossipreg: cannot reach {args.node}: {e}", file=sys.stderr)
        return 2
    return 0


async def _events(args: argparse.Namespace) -> None:
    from gossipreg.cli.commands import token_of
    from gossipreg.cli.events import stream
    from gossipreg.io.validate import check_address

    await stream(check_address(args.node, "--node"), token_of(args), args.types, args.since,
                 args.count, args.json)


def _parser() -> argparse.ArgumentParser:
    from gossipreg.cli.commands import add_client_options, add_commands
    from gossipreg.version import __version__

    p = argparse.ArgumentParser(prog="gossipreg", description="Decentralized agent registry.")
    p.add_argument("--version", action="version", version=f"gossipreg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    add_commands(sub)

    sub.add_parser("keygen", help="print a new random key for a key file")

    d = sub.add_parser("demo", help="run a live mesh on loopback and watch it work")
    d.add_argument("--nodes", type=int, default=3, help="runtimes to start (2..8)")

    n = sub.add_parser("node", help="run a standalone node until SIGINT/SIGTERM",
                       description="Run a node. Every setting also comes from a TOML file "
                                   "(--config) or GOSSIPREG_* variables; flags win.")
    from gossipreg.cli.node import add_node_arguments

    add_node_arguments(n)

    for name, help_ in (("agents", "list agents a node sees"), ("members", "list members"),
                        ("events", "stream a node's events")):
        q = sub.add_parser(name, help=help_)
        add_client_options(q)
        if name == "agents":
            q.add_argument("--capability", help="capability terms to match (default: any)")
            q.add_argument("--status", help="active, degraded, unhealthy, offline or any "
                                            "(default: any)")
            q.add_argument("--runtime", help="only this runtime's agents (default: any)")
        if name == "events":
            q.add_argument("--count", type=int, default=0, help="stop after N events")
            q.add_argument("--types", help="only these types, comma-separated "
                                           "(e.g. agent_status_changed,member_failed)")
            q.add_argument("--since", metavar="ID",
                           help="resume after this event id (a reset first if it is gone)")
    add_search_parser(sub)
    from gossipreg.cli.mcp import add_mcp_parser
    from gossipreg.cli.route import add_route_parsers

    add_route_parsers(sub)
    add_mcp_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=(getattr(args, "log_level", None) or "warning").upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "node":
            from gossipreg.cli.node import run_node_command

            return run_node_command(args)
        if args.command == "keygen":
            from gossipreg.io.keys import generate_key

            print(generate_key())
            return 0
        if args.command == "demo":
            from gossipreg.cli.demo import run_demo

            return asyncio.run(run_demo(args.nodes))
        from gossipreg.cli.commands import COMMANDS, run_command
        from gossipreg.io.validate import check_address

        check_address(args.node, "--node")
        if args.command in COMMANDS:
            return run_command(args)
        from gossipreg.cli.route import ROUTE_COMMANDS, run_route

        if args.command in ROUTE_COMMANDS:
            return run_route(args)
        if args.command == "mcp":
            from gossipreg.cli.mcp import run_mcp

            return run_mcp(args)
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(run_search(args) if args.command == "search" else _query(args))
        return 130
    except (ValueError, OSError) as e:
        print(f"gossipreg: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
