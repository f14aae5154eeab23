"""``gossipreg search "TEXT" --node HOST:PORT``: ranked free-text search of a running node.

It asks the node's ARD API (``POST /ard/v1/search``), so the results, scores (0–100) and error
messages are the HTTP API's, and the ranking is the node's: hybrid (words and vectors) when it
has an embedder, lexical otherwise (``GET /v1/health`` says which). Filters: ``--tag``,
``--runtime``, ``--status`` (each repeatable: OR within one, AND across), or ``--filter
PATH=VALUE`` for any ARD field path.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_search_parser", "run_search"]


def add_search_parser(sub: Any) -> None:
    """Add the ``search`` command to the CLI's subparsers."""
    from gossipreg.cli.commands import add_client_options

    q = sub.add_parser("search", help="rank the agents a node sees for free text")
    q.add_argument("text", help="what is needed, in words: ranked by the agents' names, "
                                "descriptions and skills (and their meaning, on a node with an "
                                "embedder)")
    add_client_options(q)
    q.add_argument("--limit", type=int, default=10, help="results (1..100; default: 10)")
    q.add_argument("--tag", action="append", default=[],
                   help="only agents with this tag (repeat: any of them)")
    q.add_argument("--runtime", action="append", default=[],
                   help="only agents of this runtime (repeat: any of them)")
    q.add_argument("--status", action="append", default=[],
                   help="only agents in this status (repeat: any of them; default: active)")
    q.add_argument("--filter", action="append", default=[], metavar="PATH=VALUE",
                   help="any ARD field path, e.g. skills.tags=finance (repeatable)")


def _filters(args: argparse.Namespace) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, values in (("tags", args.tag), ("runtime", args.runtime),
                        ("status", args.status)):
        if values:
            out[key] = list(values)
    for item in args.filter:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--filter must be PATH=VALUE, not {item!r}")
        out.setdefault(path, []).append(value)
    return out


async def run_search(args: argparse.Namespace) -> int:
    """Run the query; prints a table (or JSON) and returns the exit code."""
    from gossipreg.cli.commands import ClientError, fetch

    body: dict[str, Any] = {"query": {"text": args.text}, "pageSize": args.limit}
    flt = _filters(args)
    if flt:
        body["query"]["filter"] = flt
    try:
        status, data = await fetch(args, "POST", "/ard/v1/search", body=body)
    except ClientError as e:
        print(f"gossipreg: {e}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"gossipreg: {data.get('errorCode', status)}: {data.get('message', data)}",
              file=sys.stderr)
        return 2
    results = data["results"]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    rows = [(str(r["score"]), r["metadata"]["agentId"], r["displayName"],
             ", ".join(r.get("tags", [])), r["identifier"]) for r in results]
    head = ("SCORE", "AGENT_ID", "NAME", "TAGS", "IDENTIFIER")
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]
    for row in [head, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
