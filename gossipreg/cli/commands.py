"""Client commands of ``gossipreg`` that talk to a running node over its HTTP API:
``register``, ``deregister``, ``status``, ``heartbeat``, ``agent ID`` and ``health``, plus the
options every client command shares (``--node``, ``--token``, ``--token-file``, ``--json``,
``--timeout``, ``--tls-ca``).

Rules: ``--node`` is checked like ``gossipreg node``'s addresses (``host:port``: a missing port
is an error, never port 80); ``--json`` prints the node's JSON as it is (lists stay lists);
an error answer prints the node's message, and one that is not JSON (a proxy's HTML page) is
reported in one line with its status, type and size. Exit status: 0 done, 1 refused or not
found (``health``: not ready), 2 unusable input or unreachable node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from gossipreg.io.validate import check_address

__all__ = ["COMMANDS", "add_client_options", "add_commands", "fetch", "run_command"]

COMMANDS = ("register", "deregister", "status", "heartbeat", "agent", "health")
DEFAULT_NODE = "127.0.0.1:7946"


class ClientError(Exception):
    """The node could not be asked (unreachable, or its answer is not ours)."""


def add_client_options(q: argparse.ArgumentParser) -> None:
    """The options of every command that queries a node."""
    node = os.environ.get("GOSSIPREG_NODE", DEFAULT_NODE)
    q.add_argument("--node", default=node, metavar="HOST:PORT",
                   help=f"address of a running node (default: {node}; env GOSSIPREG_NODE)")
    q.add_argument("--token", default=None,
                   help="bearer token of the node's API (default: env GOSSIPREG_TOKEN)")
    q.add_argument("--token-file", metavar="FILE", help="read the bearer token from a file")
    q.add_argument("--json", action="store_true", help="print the node's JSON answer")
    q.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="give up on the node after this long (default: 10)")
    q.add_argument("--tls-ca", metavar="FILE",
                   help="talk HTTPS, verifying the node against this CA bundle")


def token_of(args: argparse.Namespace) -> str | None:
    """The bearer token: ``--token``, else ``--token-file``, else ``GOSSIPREG_TOKEN``."""
    if getattr(args, "token", None):
        return str(args.token)
    if getattr(args, "token_file", None):
        with open(args.token_file, encoding="utf-8") as f:
            return f.read().strip()
    return os.environ.get("GOSSIPREG_TOKEN") or None


async def fetch(args: argparse.Namespace, method: str, path: str, *,
                body: dict[str, Any] | None = None, params: dict[str, str] | None = None
                ) -> tuple[int, Any]:
    """One request to ``args.node``: (status, parsed JSON). Raises ClientError when the node
    cannot be reached or answers something that is not JSON."""
    import ssl

    import aiohttp

    node = check_address(args.node, "--node")
    token = token_of(args)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ca = getattr(args, "tls_ca", None)
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    url = f"{'https' if ctx else 'http'}://{node}{path}"
    timeout = aiohttp.ClientTimeout(total=getattr(args, "timeout", 10.0))
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.request(
                method, url, json=body, params=params or {}, headers=headers,
                ssl=ctx if ctx else True) as resp:
            raw = await resp.read()
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                kind = resp.headers.get("Content-Type", "no content type")
                raise ClientError(f"{url} answered {resp.status} with {len(raw)} bytes of "
                                  f"{kind}, not JSON (is this a gossipreg node?)") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise ClientError(f"cannot reach {node}: {e or type(e).__name__}") from None


def _message(data: Any) -> str:
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))
        if err is not None:
            return str(err)
    return json.dumps(data)


def _shown(key: str, value: Any) -> str:
    """One field of ``gossipreg agent`` on one line (cards and lists of objects included)."""
    if key == "endpoints":
        return "; ".join(f"{e['url']} ({e['protocolBinding']} {e['protocolVersion']})".strip()
                         for e in value) or "-"
    if key == "skills":
        return ", ".join(s["name"] or s["id"] for s in value) or "-"
    if key == "card":
        return "-" if value is None else f"(GET /v1/agents/<id>/card: {len(json.dumps(value))}" \
                                         " bytes of JSON)"
    if isinstance(value, list):
        return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def add_commands(sub: Any) -> None:
    """Register the client commands on the ``gossipreg`` subparsers."""
    r = sub.add_parser("register", help="register an agent hosted by a node (for runtimes "
                                        "that are not Python)")
    r.add_argument("agent_id", help="agent id, unique in the mesh")
    r.add_argument("--name", help="display name (default: the agent id)")
    r.add_argument("--capability", action="append", default=[], metavar="TEXT",
                   help="a capability, repeatable (default: none)")
    r.add_argument("--tag", action="append", default=[], help="a tag, repeatable")
    r.add_argument("--description", default="", help="free text (default: empty)")
    r.add_argument("--runtime", help="runtime id (default: the node's name)")
    r.add_argument("--check-http", metavar="URL",
                   help="the node probes this URL: 2xx keeps the agent ACTIVE")
    r.add_argument("--check-interval", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between HTTP checks (default: 10)")
    r.add_argument("--check-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="seconds an HTTP check may take (default: 2)")
    r.add_argument("--check-ttl", type=float, metavar="SECONDS",
                   help="the agent must heartbeat at least this often (a TTL check)")
    for name, help_ in (("deregister", "deregister an agent anywhere in the mesh"),
                        ("heartbeat", "record a heartbeat for an agent"),
                        ("agent", "show one agent")):
        c = sub.add_parser(name, help=help_)
        c.add_argument("agent_id", help="agent id")
        add_client_options(c)
    st = sub.add_parser("status", help="write an agent's status")
    st.add_argument("agent_id", help="agent id")
    st.add_argument("new_status", choices=("active", "degraded", "unhealthy", "offline"),
                    help="the status to write")
    st.add_argument("--cause", default="manual", help="why, kept in the event (default: manual)")
    h = sub.add_parser("health", help="a node's health; exit 0 when it is ready")
    for c in (r, st, h):
        add_client_options(c)


def _register_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": args.agent_id, "name": args.name or args.agent_id,
                            "capabilities": args.capability, "tags": args.tag,
                            "description": args.description}
    if args.runtime:
        body["runtime_id"] = args.runtime
    if args.check_http and args.check_ttl:
        raise ValueError("give --check-http or --check-ttl, not both")
    if args.check_http:
        body["check"] = {"http": args.check_http, "interval": args.check_interval,
                         "timeout": args.check_timeout}
    elif args.check_ttl:
        body["check"] = {"ttl": args.check_ttl}
    if "check" in body:
        from gossipreg.io.checks import parse_check

        parse_check(body["check"])  # the node's own check, its message, before any request
    return body


async def _run(args: argparse.Namespace) -> tuple[int, Any, str]:
    """(exit status, JSON answer, human line)."""
    cmd, aid = args.command, getattr(args, "agent_id", "")
    path = f"/v1/agents/{aid}"
    if cmd == "register":
        status, data = await fetch(args, "POST", "/v1/agents", body=_register_body(args))
        if status == 201:
            note = data.get("heartbeat", {}).get("note", "") if isinstance(data, dict) else ""
            return 0, data, f"registered {aid} on {args.node}" + (f"; {note}" if note else "")
    elif cmd == "deregister":
        status, data = await fetch(args, "DELETE", path)
        if status == 200:
            done = bool(data.get("deregistered"))
            return (0 if done else 1), data, f"{aid} {'deregistered' if done else 'unchanged'}"
    elif cmd == "heartbeat":
        status, data = await fetch(args, "POST", path + "/heartbeat")
        if status == 200:
            ok = bool(data.get("ok"))
            return (0 if ok else 1), data, f"heartbeat for {aid} {'recorded' if ok else 'lost'}"
    elif cmd == "status":
        status, data = await fetch(args, "PUT", path + "/status",
                                   body={"status": args.new_status, "cause": args.cause})
        if status == 200:
            ok = bool(data.get("ok"))
            said = f"is now {args.new_status}" if ok else "unchanged"
            return (0 if ok else 1), data, f"{aid} {said}"
    elif cmd == "agent":
        status, data = await fetch(args, "GET", path)
        if status == 200:
            return 0, data, "\n".join(f"{k}: {_shown(k, v)}" for k, v in data.items())
    else:  # health
        status, data = await fetch(args, "GET", "/v1/health")
        if status == 200:
            line = f"{data.get('status')} ({data.get('members_alive')} members alive, " \
                   f"{data.get('agents')} agents)"
            if data.get("reason"):
                line += f": {data['reason']}"
            return (0 if data.get("ready") else 1), data, line
    return 1, data, f"{args.node} answered {status}: {_message(data)}"


def run_command(args: argparse.Namespace) -> int:
    """Run one client command; prints the answer (JSON with ``--json``)."""
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
