"""Caller-supplied addresses, checked once with the messages the CLI prints.

The Python API, the CLI and the HTTP API all go through these, so one mistake reads the same
everywhere (``bad address '10.0.0.5': expected host:port ...``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gossipreg.core.errors import InvalidArgumentError

__all__ = ["check_address", "check_seeds", "format_hostport", "split_hostport"]


def split_hostport(text: str) -> tuple[str, int]:
    """Parse ``host:port`` or ``[v6]:port``; raises ValueError with a clear message."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"bad address {text!r}: expected [ipv6]:port")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"bad address {text!r}: expected host:port (IPv6 as [addr]:port)")
    if not host:
        raise ValueError(f"bad address {text!r}: empty host")
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f"bad address {text!r}: port is not a number") from None
    if not 0 <= p <= 65535:
        raise ValueError(f"bad address {text!r}: port out of range")
    return host, p


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_address(text: object, what: str = "address") -> str:
    """A ``host:port`` (IPv6 as ``[addr]:port``); raises InvalidArgumentError."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{what} must be a host:port string, not {type(text).__name__}")
    try:
        split_hostport(text)
    except ValueError as e:
        raise InvalidArgumentError(str(e)) from None
    return text.strip()


def check_seeds(seeds: object) -> list[str]:
    """A list of seed addresses. A bare string is refused: iterating it would give one
    "seed" per character."""
    if isinstance(seeds, str | bytes):
        raise InvalidArgumentError(
            f"seeds must be a list of host:port addresses, not a string: use [{seeds!r}]")
    if not isinstance(seeds, Sequence | set | frozenset):
        raise InvalidArgumentError(
            f"seeds must be a list of host:port addresses, not {type(seeds).__name__}")
    return [check_address(s, "a seed") for s in seeds]
