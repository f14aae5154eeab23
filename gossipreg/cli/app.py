"""The ``gossipreg`` command: run a node, query one, or watch a live demo mesh.

    gossipreg demo [--nodes 3]
    gossipreg node --name NAME --bind HOST:PORT [--advertise HOST:PORT] [--join HOST:PORT ...]
                   [--cluster NAME] [--key-file FILE] [--token T] [--profile local|lan|wan]
    gossipreg agents|members|events|monitor --node HOST:PORT [--token T] [--json] ...
    gossipreg search "TEXT" --node HOST:PORT [--tag T] [--runtime R] [--filter PATH=VALUE]
    gossipreg select "TEXT" --node HOST:PORT [--strategy S] [-k N]
    gossipreg send "TEXT" --message "..." --node HOST:PORT [--strategy S] [--deadline S]
    gossipreg load AGENT_ID ACTIVE MAX --node HOST:PORT
    gossipreg mcp --node HOST:PORT      (an MCP server on stdio: find/select/send as tools)
    gossipreg admin forget-node NAME | rotate-identity --node HOST:PORT --token T
    gossipreg keygen

Every error is one line on stderr, ``gossipreg: <message> (<code>)``, bad flags included;
exit status 0 done, 1 refused or not found, 2 bad input or node unreachable
(:mod:`gossipreg.cli.client`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals in the one-line error model."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("gossipreg").strip()
        print(f"gossipreg: {where + ': ' if where else ''}{message} (invalid_argument); "
              f"see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def _add_node_parser(sub: Any) -> None:
    from gossipreg.cli.node import add_node_arguments

    n = sub.add_parser("node", help="run a standalone node until SIGINT/SIGTERM",
                       description="Run a node. Every setting also comes from a TOML file "
                                   "(--config) or GOSSIPREG_* variables; flags win.")
    add_node_arguments(n)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. For ``gossipreg node`` (``command``), only that subcommand's:
    a node runs for days, and the other commands' modules (client, search, route, MCP, admin)
    would stay in its memory unused (``gossipreg --help`` and any other command build all)."""
    from gossipreg.version import __version__

    p = _Parser(prog="gossipreg", description="Decentralized agent registry.")
    p.add_argument("--version", action="version", version=f"gossipreg {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if command == "node":
        _add_node_parser(sub)
        return p
    from gossipreg.cli.client import add_client_options
    from gossipreg.cli.commands import add_commands
    from gossipreg.cli.search import add_search_parser

    add_commands(sub)

    sub.add_parser("keygen", help="print a new random key for a key file")

    d = sub.add_parser("demo", help="run a live mesh on loopback and watch it work")
    d.add_argument("--nodes", type=int, default=3, help="runtimes to start (2..8)")

    _add_node_parser(sub)

    q = sub.add_parser("events", help="stream a node's events (reconnects and resumes)")
    add_client_options(q)
    q.add_argument("--count", type=int, default=0, help="stop after N events")
    q.add_argument("--types", help="only these types, comma-separated "
                                   "(e.g. agent_status_changed,member_failed)")
    q.add_argument("--since", metavar="ID",
                   help="resume after this event id (a reset first if it is gone)")
    mon = sub.add_parser("monitor", help="a node's member and agent events as log lines")
    add_client_options(mon)
    mon.add_argument("--count", type=int, default=0, help="stop after N lines")
    mon.add_argument("--heartbeats", action="store_true", help="show heartbeats too")
    add_search_parser(sub)
    from gossipreg.cli.mcp import add_mcp_parser
    from gossipreg.cli.route import add_route_parsers

    add_route_parsers(sub)
    add_mcp_parser(sub)
    from gossipreg.cli.admin import add_admin_parser

    add_admin_parser(sub)
    return p


def _run_client(args: argparse.Namespace) -> int:
    from gossipreg.cli.client import ApiError, fail
    from gossipreg.cli.commands import COMMANDS, run_client_command
    from gossipreg.cli.events import run_events

    try:
        if args.command in COMMANDS:
            code, data, line = asyncio.run(run_client_command(args))
            if args.json:
                print(json.dumps(data, indent=2))
            elif code == 0 or args.command == "health":
                print(line)
            else:
                print(f"gossipreg: {line} (refused)", file=sys.stderr)
            return code
        if args.command == "search":
            from gossipreg.cli.search import run_search

            return asyncio.run(run_search(args))
        return asyncio.run(run_events(args))
    except ApiError as e:
        return fail(e)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv[0] if argv else None).parse_args(argv)
    # The library installs no handler: the command line does, at warning until told more.
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "node":
            from gossipreg.cli.node import run_node_command

            return run_node_command(args)
        if args.command == "keygen":
            from gossipreg.io.credentials.keys import generate_key

            print(generate_key())
            return 0
        if args.command == "demo":
            from gossipreg.cli.demo import run_demo

            return asyncio.run(run_demo(args.nodes))
        from gossipreg.cli.route import ROUTE_COMMANDS, run_route

        if args.command == "admin":
            from gossipreg.cli.admin import run_admin

            return run_admin(args)
        if args.command in ROUTE_COMMANDS:
            return run_route(args)
        if args.command == "mcp":
            from gossipreg.cli.mcp import run_mcp

            return run_mcp(args)
        with contextlib.suppress(KeyboardInterrupt):
            return _run_client(args)
        return 130
    except ValueError as e:
        print(f"gossipreg: {e} (invalid_argument)", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"gossipreg: {e.strerror or e} (unavailable)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
