"""Caller-supplied addresses, checked once with the messages the CLI prints.

The Python API, the CLI and the HTTP API all go through these, so one mistake reads the same
everywhere (``bad address '10.0.0.5': expected host:port ...``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.io.transport import split_hostport

__all__ = ["check_address", "check_seeds"]


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
