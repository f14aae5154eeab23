"""``gossipreg events`` and ``gossipreg monitor``: a node's event stream on the terminal.

``events``: one line per event: time, id (pass it to ``--since`` to resume there), type,
subject, and the details (old -> new status and why, who suspected whom, why an agent went);
``--types`` keeps some types; ``--json`` prints each event as a JSON object with its ``id``.
``monitor``: the member and agent events as the node's own operator log lines (Serf's
``monitor``; :mod:`gossipreg.io.mesh_log`).

Both follow the node through restarts: when the stream ends or the node goes away they say so
once on stderr, reconnect with backoff and resume with ``Last-Event-ID`` (a restarted node
answers with a ``reset`` first: its stream is new). A node that cannot be reached at the start,
or that refuses the stream (a wrong token, a bad ``--types``), ends the command in the error
model of :mod:`gossipreg.cli.client`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gossipreg.cli.client import headers_of, node_url, refusal, unreachable

__all__ = ["describe", "line", "run_events", "stream"]

BACKOFF = (0.2, 5.0)  # first and longest wait between reconnections, s
READ_TIMEOUT = 45.0  # the node sends a keep-alive every 15 s


def describe(ev: dict[str, Any]) -> str:
    """The details of one event (its ``metadata`` in words)."""
    kind, meta = ev["event_type"], ev.get("metadata") or {}
    if kind == "agent_status_changed":
        why = meta.get("cause", "?")
        if meta.get("reason"):
            why += f': "{meta["reason"]}"'
        if meta.get("source"):
            why += f" by {meta['source']}"
        return f"{meta.get('old_status')} -> {meta.get('new_status')} ({why})"
    if kind == "agent_deregistered":
        return f"({meta.get('cause', '?')}) was on {meta.get('node_id')}"
    if kind == "agent_registered":
        caps = ", ".join(meta.get("capabilities", []))
        return f"on {meta.get('node_id')}, {meta.get('status')}: {caps}"
    if kind == "agent_heartbeat":
        return f"#{meta.get('count')}"
    if kind in ("member_suspect", "member_failed"):
        verb = "suspected" if kind == "member_suspect" else "declared failed"
        by = f" by {meta['source']}" if meta.get("source") else ""
        return f"{verb}{by} (incarnation {meta.get('incarnation')})"
    if kind in ("member_joined", "member_alive", "member_left"):
        return f"at {meta.get('address')} (incarnation {meta.get('incarnation')})"
    if kind == "reset":
        return f"({meta.get('reason')}): the stream cannot resume there; list again"
    return ""


def line(ev: dict[str, Any], event_id: str) -> str:
    subject = ev.get("agent_id") or ev.get("runtime_id") or (ev.get("metadata") or {}).get(
        "node_id") or ""
    return (f"{ev['timestamp']}  {event_id:16} {ev['event_type'].upper():22} {subject}  "
            f"{describe(ev)}").rstrip()


async def stream(args: argparse.Namespace, types: str | None, since: str | None, count: int,
                 show: Callable[[dict[str, Any], str], None]) -> int:
    """Call ``show(event, id)`` for the events of ``args.node`` until ``count`` were shown
    (0: until interrupted), reconnecting and resuming after the last one shown."""
    import aiohttp

    url, ctx = node_url(args, "/v1/events")
    params = {"types": types} if types else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=getattr(args, "timeout", 10.0),
                                    sock_read=READ_TIMEOUT)
    last, seen, wait, connected, lost = since, 0, BACKOFF[0], False, False
    async with aiohttp.ClientSession(timeout=timeout) as s:
        while True:
            headers = headers_of(args)
            if last:
                headers["Last-Event-ID"] = last
            why = "the node ended the stream"
            try:
                async with s.get(url, headers=headers, params=params,
                                 ssl=ctx if ctx else False) as resp:
                    if resp.status != 200:
                        try:
                            data: Any = await resp.json(content_type=None)
                        except ValueError:
                            data = await resp.text()
                        raise refusal(resp.status, data)
                    if lost:
                        print(f"gossipreg: reconnected to {args.node}", file=sys.stderr,
                              flush=True)
                    connected, lost, wait = True, False, BACKOFF[0]
                    event_id = ""
                    async for raw in resp.content:
                        text = raw.decode().rstrip("\n")
                        if text.startswith("id: "):
                            event_id = text[4:]
                        if not text.startswith("data: "):
                            continue
                        show(json.loads(text[6:]), event_id)
                        last = event_id or last
                        seen += 1
                        if count and seen >= count:
                            return 0
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                if not connected:
                    raise unreachable(args.node, e) from None
                why = unreachable(args.node, e).message
            if not lost:
                print(f"gossipreg: lost {args.node} ({why}); reconnecting"
                      + (f" to resume after {last}" if last else ""), file=sys.stderr,
                      flush=True)
                lost = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, BACKOFF[1])


class _Monitor:
    """Events as the node's operator log lines, stamped with the event's time."""

    def __init__(self, as_json: bool) -> None:
        from gossipreg.io.mesh_log import MeshLog

        self.as_json = as_json
        self.when = ""
        self.mesh = MeshLog(self.emit, rate=None)

    def emit(self, level: int, text: str) -> None:
        print(f"{self.when} {logging.getLevelName(level)} {text}", flush=True)

    def __call__(self, ev: dict[str, Any], event_id: str) -> None:
        from gossipreg.io.mesh_log import level_of

        kind = ev["event_type"]
        if self.as_json:
            print(json.dumps({"id": event_id, **ev}), flush=True)
            return
        try:
            self.when = datetime.fromisoformat(ev["timestamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (KeyError, ValueError):
            self.when = str(ev.get("timestamp"))
        if kind == "agent_heartbeat":
            self.emit(logging.DEBUG, f"agent {ev.get('agent_id')}: heartbeat {describe(ev)}")
        elif kind == "reset":
            self.emit(logging.WARNING, f"stream reset {describe(ev)}")
        elif level_of(kind) is not None:
            self.mesh.line(kind, ev.get("agent_id"), ev.get("runtime_id"),
                           ev.get("metadata") or {})


MONITORED = ("member_joined,member_suspect,member_alive,member_failed,member_left,"
             "agent_registered,agent_deregistered,agent_status_changed,runtime_joined,"
             "runtime_left")


async def run_events(args: argparse.Namespace) -> int:
    """``events`` or ``monitor``: the exit status (ApiError when refused)."""
    if args.command == "events":
        def show(ev: dict[str, Any], event_id: str) -> None:
            print(json.dumps({"id": event_id, **ev}) if args.json else line(ev, event_id),
                  flush=True)

        return await stream(args, args.types, args.since, args.count, show)
    kinds = MONITORED + (",agent_heartbeat" if args.heartbeats else "")
    return await stream(args, kinds, None, args.count, _Monitor(args.json))
