"""How every client command talks to a node and reports what went wrong: one error model.

Rules (docs/design/shapes.md §4):
- a refusal prints one line on stderr, ``gossipreg: <message> (<code>)``: the node's message
  and code as its HTTP API gave them (ARD's envelope too), or the CLI's own for what it checks
  before asking (``invalid_argument``) and for a node it cannot ask (``unavailable``);
- exit status: **0** done (an empty list is an answer); **1** refused or not found (401, 403,
  404, 409, 5xx; ``health``: not ready); **2** bad input (400, 413, 415, a bad flag) or a node
  that cannot be reached or does not answer JSON;
- agent ids go into paths URL-encoded (an id with ``/`` is one path segment);
- a connection error says why once (``connection refused``), never aiohttp's ``ssl:default``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn
from urllib.parse import quote

from gossipreg.io.validate import check_address

__all__ = ["DEFAULT_NODE", "ApiError", "add_client_options", "agent_path", "die", "fail", "fetch",
           "node_url", "refusal", "token_of", "unreachable"]

DEFAULT_NODE = "127.0.0.1:7946"
# ARD's error codes in the error model's words (the same refusal reads the same everywhere).
_ARD_CODES = {"INVALID_ARGUMENT": "invalid_argument", "UNAUTHENTICATED": "unauthorized",
              "NOT_FOUND": "not_found"}


class ApiError(Exception):
    """A refusal, in the error model: its message, code and the CLI's exit status."""

    def __init__(self, message: str, code: str, exit_status: int) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the server wrote
        self.code = code
        self.exit_status = exit_status


def fail(err: ApiError) -> int:
    """Print ``err`` as the one line every command prints; return its exit status."""
    print(f"gossipreg: {err.message} ({err.code})", file=sys.stderr, flush=True)
    return err.exit_status


def bad_input(message: str) -> ApiError:
    return ApiError(message, "invalid_argument", 2)


def exit_for(status: int) -> int:
    """The exit status for an HTTP error status."""
    return 1 if status in (401, 403, 404, 409) or status >= 500 else 2


def refusal(status: int, data: Any) -> ApiError:
    """The node's error answer (its envelope, or ARD's) as an ApiError."""
    message, code = None, None
    if isinstance(data, dict):
        if isinstance(data.get("error"), str):
            message, code = data["error"], data.get("code")
        elif isinstance(data.get("message"), str):
            message = data["message"]
            code = _ARD_CODES.get(str(data.get("errorCode")), str(data.get("errorCode")).lower())
    if message is None:
        message = f"the node answered {status}: {json.dumps(data)[:200]}"
    return ApiError(message, str(code or f"http_{status}"), exit_for(status))


def unreachable(node: str, e: BaseException) -> ApiError:
    """A node that could not be asked, said once (no ``ssl:default``, no repeated prefix)."""
    os_error = getattr(e, "os_error", e)
    if isinstance(e, TimeoutError):
        why = "no answer in time"
    elif isinstance(os_error, OSError) and (os_error.errno or os_error.strerror):
        # asyncio's "Connect call failed (...)" hides the reason its errno names.
        errno = os_error.errno or 0
        why = (os.strerror(errno) if errno > 0 else str(os_error.strerror)).lower()
    else:
        text = str(e).split(" ssl:")[0]
        why = text or type(e).__name__
    return ApiError(f"cannot reach {node}: {why}", "unavailable", 2)


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
        try:
            with open(args.token_file, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as e:
            raise bad_input(f"cannot read token file {args.token_file}: "
                            f"{(e.strerror or str(e)).lower()}") from None
    return os.environ.get("GOSSIPREG_TOKEN") or None


def agent_path(agent_id: str, tail: str = "") -> str:
    """``/v1/agents/<id>`` with the id as one encoded path segment."""
    return f"/v1/agents/{quote(agent_id, safe='')}{tail}"


def node_url(args: argparse.Namespace, path: str) -> tuple[str, Any]:
    """The URL of ``path`` on ``args.node`` and the SSL context (None: plain HTTP)."""
    import ssl

    try:
        node = check_address(args.node, "--node")
    except ValueError as e:
        raise bad_input(str(e)) from None
    ca = getattr(args, "tls_ca", None)
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    return f"{'https' if ctx else 'http'}://{node}{path}", ctx


def headers_of(args: argparse.Namespace) -> dict[str, str]:
    token = token_of(args)
    return {"Authorization": f"Bearer {token}"} if token else {}


async def fetch(args: argparse.Namespace, method: str, path: str, *,
                body: dict[str, Any] | None = None,
                params: list[tuple[str, str]] | dict[str, str] | None = None,
                ok: tuple[int, ...] = (200, 201)) -> Any:
    """One request to ``args.node``: the parsed JSON answer when its status is in ``ok``;
    raises ApiError otherwise (the node's refusal, or why it could not be asked)."""
    import aiohttp
    from yarl import URL

    url, ctx = node_url(args, path)
    timeout = aiohttp.ClientTimeout(total=getattr(args, "timeout", 10.0))
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.request(
                method, URL(url, encoded=True), json=body, params=params or {},
                headers=headers_of(args), ssl=ctx if ctx else False) as resp:
            raw = await resp.read()
            try:
                data = json.loads(raw)
            except ValueError:
                kind = resp.headers.get("Content-Type", "no content type")
                raise ApiError(f"{args.node} answered {resp.status} with {len(raw)} bytes of "
                               f"{kind}, not JSON (is this a gossipreg node?)",
                               "unavailable", 2) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise unreachable(args.node, e) from None
    if resp.status not in ok:
        raise refusal(resp.status, data)
    return data


def die(message: str) -> NoReturn:
    """Refuse bad input found by the CLI itself (exit 2)."""
    raise bad_input(message)
