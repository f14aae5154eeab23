"""Client commands of ``gossipreg`` that ask a running node over its HTTP API: ``register``,
``deregister``, ``status``, ``heartbeat``, ``agent ID``, ``health``, ``agents`` and
``members``.

Rules: ``--node`` is checked like ``gossipreg node``'s addresses (``host:port``: a missing port
is an error, never port 80); ``--json`` prints the node's JSON as it is (lists stay lists);
errors and exit statuses are :mod:`gossipreg.cli.client`'s (one line, the node's message and
code; 0 done, 1 refused or not found, 2 bad input or unreachable). ``health`` exits 0 when the
node is ready and 1 when it is not; a list with nothing in it is an answer (exit 0).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from gossipreg.cli.client import add_client_options, agent_path, die, fetch

__all__ = ["COMMANDS", "add_commands", "agent_lines", "run_client_command"]

COMMANDS = ("register", "deregister", "status", "heartbeat", "agent", "health", "agents",
            "members")
STATUSES = "active, degraded, unhealthy, offline"


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
    r.add_argument("--name", help="display name (default: the card's name, else the agent id)")
    r.add_argument("--capability", action="append", default=None, metavar="TEXT",
                   help="a capability, repeatable (default: the card's, else none)")
    r.add_argument("--tag", action="append", default=[], help="a tag, repeatable")
    r.add_argument("--description", default=None, help="free text (default: the card's)")
    r.add_argument("--card", metavar="FILE", help="the agent's A2A card, a JSON file")
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
    st.add_argument("new_status", metavar="STATUS", help=f"the status to write: {STATUSES}")
    st.add_argument("--cause", default="manual", help="why, kept in the event (default: manual)")
    h = sub.add_parser("health", help="a node's health; exit 0 when it is ready, 1 when not")
    a = sub.add_parser("agents", help="list agents a node sees")
    a.add_argument("--capability", help="capability terms to match (default: any)")
    a.add_argument("--status", help=f"{STATUSES} or any (default: any)")
    a.add_argument("--runtime", help="only this runtime's agents (default: any)")
    a.add_argument("--tag", action="append", default=[],
                   help="only agents with this tag (repeat: all of them)")
    m = sub.add_parser("members", help="list members (by default the running ones)")
    m.add_argument("--state", default="alive,suspect",
                   help="member states, comma-separated (alive, suspect, dead, left) or any "
                        "(default: alive,suspect)")
    for c in (r, st, h, a, m):
        add_client_options(c)


def _register_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": args.agent_id, "tags": args.tag}
    for key, value in (("name", args.name), ("capabilities", args.capability),
                       ("description", args.description), ("runtime_id", args.runtime)):
        if value is not None:
            body[key] = value
    if args.card:
        try:
            with open(args.card, encoding="utf-8") as f:
                body["card"] = json.load(f)
        except OSError as e:
            die(f"cannot read card file {args.card}: {(e.strerror or str(e)).lower()}")
        except ValueError as e:
            die(f"card file {args.card} is not JSON: {e}")
    if args.check_http and args.check_ttl:
        die("give --check-http or --check-ttl, not both")
    if args.check_http:
        body["check"] = {"http": args.check_http, "interval": args.check_interval,
                         "timeout": args.check_timeout}
    elif args.check_ttl:
        body["check"] = {"ttl": args.check_ttl}
    if "check" in body:
        from gossipreg.io.checks import parse_check

        try:  # the node's own check, its message, before any request
            parse_check(body["check"])
        except ValueError as e:
            die(str(e))
    return body


def _hint(aid: str, hb: dict[str, Any]) -> str:
    """How to keep a registered agent alive, in the CLI's words."""
    if "every" in hb:
        return (f"run `gossipreg heartbeat {aid}` about every {hb['every']:g} s: without one "
                f"for {hb['unhealthy_after']:g} s it turns UNHEALTHY, for "
                f"{hb['deregistered_after']:g} s it is deregistered (or register it with "
                f"--check-http or --check-ttl)")
    return str(hb.get("note", ""))


def _when(text: object) -> str:
    """An ISO time as the CLI shows it: to the second, in UTC."""
    try:
        return datetime.fromisoformat(str(text)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return str(text)


def agent_lines(a: dict[str, Any]) -> list[str]:
    """One agent for people: its fields, readable, the empty ones left out."""
    rows: list[tuple[str, str]] = [
        ("agent", str(a.get("agent_id"))), ("name", str(a.get("name"))),
        ("status", str(a.get("status"))), ("runtime", str(a.get("runtime_id"))),
        ("node", str(a.get("node_id"))),
        ("capabilities", ", ".join(a.get("capabilities") or [])),
        ("tags", ", ".join(a.get("tags") or [])), ("description", a.get("description") or ""),
        ("version", a.get("version") or ""),
        ("registered", _when(a.get("registered_at"))),
        ("heartbeat", f"{_when(a.get('last_heartbeat'))} "
                      f"({a.get('heartbeat_count', 0)} since registration)")]
    provider = a.get("provider") or {}
    if provider:
        rows.append(("provider", f"{provider.get('organization', '')} "
                                 f"{provider.get('url', '')}".strip()))
    for i, e in enumerate(a.get("endpoints") or []):
        rows.append(("endpoints" if i == 0 else "", f"{e.get('url')} "
                     f"({e.get('protocolBinding')} {e.get('protocolVersion')})".strip()))
    for i, s in enumerate(a.get("skills") or []):
        rows.append(("skills" if i == 0 else "", f"{s.get('id')}: {s.get('name')}"))
    if a.get("card") is not None:
        rows.append(("card", f"gossipreg agent {a.get('agent_id')} --json (or GET "
                             f"{agent_path(str(a.get('agent_id')), '/card')})"))
    return [f"{k:13} {v}".rstrip() for k, v in rows if v or not k]


def table(rows: list[dict[str, Any]], cols: tuple[str, ...]) -> str:
    """Rows as aligned columns (lists joined with commas)."""
    cells = [[", ".join(v) if isinstance(v := r.get(c, ""), list) else str(v) for c in cols]
             for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


async def run_client_command(args: argparse.Namespace) -> tuple[int, Any, str]:
    """Run one client command: (exit status, JSON answer, text for people). Raises
    ApiError for a refusal."""
    cmd, aid = args.command, getattr(args, "agent_id", "")
    if cmd == "register":
        data = await fetch(args, "POST", "/v1/agents", body=_register_body(args))
        hint = _hint(aid, data.get("heartbeat") or {})
        return 0, data, f"registered {aid} on {args.node}" + (f"; {hint}" if hint else "")
    if cmd == "deregister":
        data = await fetch(args, "DELETE", agent_path(aid))
        done = bool(data.get("deregistered"))
        return (0 if done else 1), data, f"{aid} {'deregistered' if done else 'unchanged'}"
    if cmd == "heartbeat":
        data = await fetch(args, "POST", agent_path(aid, "/heartbeat"))
        ok = bool(data.get("ok"))
        return (0 if ok else 1), data, f"heartbeat for {aid} {'recorded' if ok else 'lost'}"
    if cmd == "status":
        data = await fetch(args, "PUT", agent_path(aid, "/status"),
                           body={"status": args.new_status, "reason": args.cause})
        ok = bool(data.get("ok"))
        return (0 if ok else 1), data, f"{aid} {'is now ' + args.new_status if ok else 'unchanged'}"
    if cmd == "agent":
        data = await fetch(args, "GET", agent_path(aid))
        return 0, data, "\n".join(agent_lines(data))
    if cmd == "agents":
        params = [(k, v) for k, v in (("capability", args.capability), ("status", args.status),
                                      ("runtime", args.runtime)) if v is not None]
        params += [("tag", t) for t in args.tag]
        data = await fetch(args, "GET", "/v1/agents", params=params)
        rows = [{**a, "endpoint": (a.get("endpoints") or [{"url": "-"}])[0]["url"]}
                for a in data]
        return 0, data, table(rows, ("agent_id", "name", "runtime_id", "node_id", "status",
                                     "endpoint", "capabilities"))
    if cmd == "members":
        data = await fetch(args, "GET", "/v1/members", params={"state": args.state})
        return 0, data, table(data, ("node_id", "address", "state", "incarnation",
                                     "generation"))
    data = await fetch(args, "GET", "/v1/health")  # health
    counts = (f" ({data['members_alive']} members alive, {data['agents']} agents)"
              if "members_alive" in data else "")
    line = f"{data.get('status')}{counts}" + (f": {data['reason']}" if data.get("reason")
                                               else "")
    return (0 if data.get("ready") else 1), data, line
