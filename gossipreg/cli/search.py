"""``gossipreg search "TEXT" --node HOST:PORT``: ranked free-text search of a running node.

It asks the node's ARD API (``POST /ard/v1/search``), so the results, scores (0–100) and error
messages are the HTTP API's, and the ranking is the node's: hybrid (words and vectors) when it
has an embedder, lexical otherwise (``GET /v1/health`` says which). Each result's ``url`` is
the card's (as ARD defines it); the agent's own endpoints are ``metadata.endpoints`` (the
ENDPOINT column: the first). Filters: ``--tag``, ``--runtime``, ``--status`` (each
repeatable: OR within one, AND across; ``--status any`` for every status, as ``agents --status
any``), or ``--filter PATH=VALUE`` for any ARD field path. No match is an empty answer (exit 0).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_search_parser", "run_search"]


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..100, not {text!r}")
    return value


def add_search_parser(sub: Any) -> None:
    """Add the ``search`` command to the CLI's subparsers."""
    from gossipreg.cli.client import add_client_options

    q = sub.add_parser("search", help="rank the agents a node sees for free text")
    q.add_argument("text", help="what is needed, in words: ranked by the agents' names, "
                                "descriptions and skills (and their meaning, on a node with an "
                                "embedder)")
    add_client_options(q)
    q.add_argument("--limit", type=_limit, default=10, help="results (1..100; default: 10)")
    q.add_argument("--tag", action="append", default=[],
                   help="only agents with this tag (repeat: any of them)")
    q.add_argument("--runtime", action="append", default=[],
                   help="only agents of this runtime (repeat: any of them)")
    q.add_argument("--status", action="append", default=[],
                   help="only agents in this status (repeat: any of them; any: every status; "
                        "default: active)")
    q.add_argument("--filter", action="append", default=[], metavar="PATH=VALUE",
                   help="any ARD field path, e.g. skills.tags=finance (repeatable)")


def _filters(args: argparse.Namespace) -> dict[str, list[str]]:
    from gossipreg.cli.client import die

    out: dict[str, list[str]] = {}
    for key, values in (("tags", args.tag), ("runtime", args.runtime),
                        ("status", args.status)):
        if values:
            out[key] = list(values)
    for item in args.filter:
        path, sep, value = item.partition("=")
        if not sep or not path:
            die(f"--filter must be PATH=VALUE, not {item!r}")
        out.setdefault(path, []).append(value)
    return out


async def run_search(args: argparse.Namespace) -> int:
    """Run the query; prints a table (or JSON) and returns the exit status (ApiError when
    refused)."""
    from gossipreg.cli.client import fetch
    from gossipreg.cli.commands import table

    body: dict[str, Any] = {"query": {"text": args.text}, "pageSize": args.limit}
    flt = _filters(args)
    if flt:
        body["query"]["filter"] = flt
    data = await fetch(args, "POST", "/ard/v1/search", body=body)
    results = data["results"]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    rows = [{"score": r["score"], "agent_id": r["metadata"]["agentId"],
             "name": r["displayName"],
             "endpoint": (r["metadata"].get("endpoints") or [{"url": "-"}])[0]["url"],
             "tags": r.get("tags", []), "identifier": r["identifier"]} for r in results]
    print(table(rows, ("score", "agent_id", "name", "endpoint", "tags", "identifier")))
    return 0
