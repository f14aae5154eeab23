"""``gossipreg select TEXT``, ``gossipreg send TEXT --message ...`` and ``gossipreg load ID
ACTIVE MAX``: the node's ``/v1/select``, ``/v1/send`` and ``/v1/agents/{id}/load`` from a shell.

Rules: the node decides (its router, its cursors and cooldowns), so choices and messages are
the HTTP API's; ``--json`` prints the node's JSON as it is. Errors print ``gossipreg: <message>
(<code>)`` on stderr. Exit status: 0 done, 1 no match, no agent answered or refused, 2 bad input
or unreachable node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

__all__ = ["ROUTE_COMMANDS", "add_route_parsers", "run_route"]

ROUTE_COMMANDS = ("select", "send", "load")


def add_route_parsers(sub: Any) -> None:
    """Add ``select``, ``send`` and ``load`` to the CLI's subparsers."""
    from gossipreg.cli.client import add_client_options

    for name, help_ in (("select", "rank agents for a task (nothing is sent)"),
                        ("send", "select an agent and send it a message over A2A")):
        q = sub.add_parser(name, help=help_)
        q.add_argument("text", nargs="?", help="the need in words (ranked search)")
        add_client_options(q)
        q.add_argument("--capability", help="a capability to match instead of TEXT")
        q.add_argument("--agent", action="append", default=[], metavar="ID",
                       help="these agents instead of TEXT, in this order (repeatable)")
        q.add_argument("--strategy", default="best",
                       help="best, round_robin, random or least_loaded (default: best)")
        q.add_argument("--tag", action="append", default=[], help="only agents with this tag")
        q.add_argument("--filter", action="append", default=[], metavar="PATH=VALUE",
                       help="any ARD field path (repeatable)")
        q.add_argument("--status", action="append", default=[],
                       help="accepted status (repeatable; default: active)")
        if name == "select":
            q.add_argument("-k", type=int, default=3, help="candidates (default: 3)")
        else:
            q.add_argument("--message", "-m", required=True, help="the text to send")
            q.add_argument("--deadline", type=float, default=30.0, metavar="SECONDS",
                           help="give up after this long (default: 30)")
            q.add_argument("--attempts", type=int, default=3,
                           help="agents to try at most (default: 3)")
            q.add_argument("--idempotent", action="store_true",
                           help="also fail over after a 5xx or a timeout (same message id)")
            q.add_argument("--stream", action="store_true",
                           help="print the agent's events as they come")
    ld = sub.add_parser("load", help="publish the load of an agent the node hosts")
    ld.add_argument("agent_id", help="an agent the node hosts")
    ld.add_argument("active_tasks", type=int, help="tasks the agent is working on now")
    ld.add_argument("max_concurrency", type=int, help="tasks it can work on at once")
    add_client_options(ld)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"strategy": args.strategy}
    for key, value in (("text", args.text), ("capability", args.capability),
                       ("agent_ids", args.agent or None)):
        if value is not None:
            body[key] = value
    flt: dict[str, list[str]] = {}
    if args.tag:
        flt["tags"] = list(args.tag)
    for item in args.filter:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--filter must be PATH=VALUE, not {item!r}")
        flt.setdefault(path, []).append(value)
    if flt:
        body["filters"] = flt
    if args.status:
        body["status"] = list(args.status)
    if args.command == "select":
        body["k"] = args.k
    else:
        body.update(message=args.message, deadline=args.deadline, attempts=args.attempts,
                    idempotent=args.idempotent, stream=args.stream)
    return body


def _error(status: int, data: Any) -> int:
    """The node's refusal in the one error model, then the attempts it made, if any."""
    from gossipreg.cli.client import fail, refusal

    code = fail(refusal(status, data))
    for a in data.get("attempts", []) if isinstance(data, dict) else []:
        print(f"  {a['agent_id']}: {a['outcome']} after {a['latency_ms']:.0f} ms "
              f"{a.get('detail', '')}".rstrip(), file=sys.stderr)
    return code


async def _call(args: argparse.Namespace, method: str, path: str,
                body: dict[str, Any]) -> tuple[int, Any]:
    """``(status, answer)`` of one request, whatever the status (refusals carry attempts);
    raises ApiError when the node could not be asked."""
    import aiohttp

    from gossipreg.cli.client import headers_of, node_url, unreachable

    url, ctx = node_url(args, path)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.request(
                method, url, json=body, headers=headers_of(args),
                ssl=ctx if ctx else False) as resp:
            return resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
        raise unreachable(args.node, e) from None


def _show_select(data: dict[str, Any]) -> None:
    rows = []
    for i, c in enumerate(data["candidates"], 1):
        load = c["load"]
        rows.append((str(i), c["agent_id"], f"{c['score']:.3f}", c["status"],
                     f"{load['active_tasks']}/{load['max_concurrency']}" if load else "-",
                     c["endpoint"]["url"] if c["endpoint"] else "-", c["why"]))
    head = ("RANK", "AGENT_ID", "SCORE", "STATUS", "LOAD", "ENDPOINT", "WHY")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    for row in [head, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _show_result(data: dict[str, Any]) -> None:
    for a in data["attempts"]:
        print(f"  {a['agent_id']}: {a['outcome']} after {a['latency_ms']:.0f} ms "
              f"{a.get('detail', '')}".rstrip(), file=sys.stderr)
    print(f"{data['agent_id']} ({data['url']}) answered:")
    print(data["text"])


async def _stream(args: argparse.Namespace, body: dict[str, Any]) -> int:
    """``send --stream``: the node's server-sent events, printed as they come."""
    import aiohttp

    from gossipreg.cli.client import headers_of, node_url, unreachable

    url, ctx = node_url(args, "/v1/send")
    timeout = aiohttp.ClientTimeout(total=args.deadline + args.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.post(
                url, json=body, headers=headers_of(args), ssl=ctx if ctx else False) as r:
            if r.content_type != "text/event-stream":
                return _error(r.status, await r.json(content_type=None))
            kind = ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if args.json:
                        print(json.dumps({"event": kind, "data": data}), flush=True)
                    elif kind == "result":
                        _show_result(data)
                    elif kind == "error":
                        return _error(data.get("status", 502), data)
                    elif kind == "response":
                        print(f"[{', '.join(sorted(data))}]", flush=True)
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise unreachable(args.node, e) from None
    return 0


async def _run(args: argparse.Namespace) -> int:
    from gossipreg.cli.client import agent_path

    if args.command == "load":
        status, data = await _call(args, "PUT", agent_path(args.agent_id, "/load"), body={
            "active_tasks": args.active_tasks, "max_concurrency": args.max_concurrency})
        if status != 200:
            return _error(status, data)
        print(json.dumps(data) if args.json else
              f"load of {args.agent_id}: {args.active_tasks}/{args.max_concurrency}")
        return 0
    body = _body(args)
    if args.command == "send" and args.stream:
        return await _stream(args, body)
    if args.command == "send":
        args.timeout = max(args.timeout, args.deadline + 5)
    status, data = await _call(args, "POST", f"/v1/{args.command}", body)
    if status != 200:
        return _error(status, data)
    if args.json:
        print(json.dumps(data, indent=2))
    elif args.command == "select":
        _show_select(data)
    else:
        _show_result(data)
    return 0


def run_route(args: argparse.Namespace) -> int:
    """Run ``select``, ``send`` or ``load``; returns the exit status."""
    from gossipreg.cli.client import ApiError, bad_input, fail

    try:
        return asyncio.run(_run(args))
    except ValueError as e:
        return fail(bad_input(str(e)))
    except ApiError as e:
        return fail(e)
