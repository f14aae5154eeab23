"""``gossipreg events``: a node's event stream on the terminal, with what each event says.

One line per event: time, id (pass it to ``--since`` to resume there), type, subject, and the
details (old -> new status and why, who suspected whom, why an agent went). ``--types`` keeps
some types; ``--json`` prints each event as a JSON object with its ``id``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["describe", "stream"]


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


async def stream(node: str, token: str | None, types: str | None, since: str | None,
                 count: int, as_json: bool) -> None:
    """Print the events of ``node`` until ``count`` were shown (0: forever)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if since:
        headers["Last-Event-ID"] = since
    params = {"types": types} if types else {}
    seen = 0
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://{node}/v1/events", headers=headers, params=params) as resp:
        if resp.status != 200:
            try:
                msg = (await resp.json()).get("error", "")
            except (aiohttp.ContentTypeError, ValueError):
                msg = ""
            raise SystemExit(f"gossipreg: events answered {resp.status} {msg}".rstrip())
        event_id = ""
        async for raw in resp.content:
            text = raw.decode().rstrip("\n")
            if text.startswith("id: "):
                event_id = text[4:]
            if not text.startswith("data: "):
                continue
            ev = json.loads(text[6:])
            print(json.dumps({"id": event_id, **ev}) if as_json else line(ev, event_id),
                  flush=True)
            seen += 1
            if count and seen >= count:
                return
