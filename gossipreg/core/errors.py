"""Error hierarchy.

Rules: one root, :class:`GossipregError`. Caller misuse raises a subclass; misbehaviour of a peer
never raises out of the core (it is dropped and counted), except inside the codec, whose
:class:`CodecError` the node catches at its edge.
"""

from __future__ import annotations

__all__ = [
    "AgentExistsError",
    "CardTooLargeError",
    "CodecError",
    "ConfigError",
    "GossipregError",
    "InvalidArgumentError",
    "JoinError",
    "NoMatchError",
    "NodeStateError",
    "NotOwnerError",
]


class GossipregError(Exception):
    """Root of every error raised by gossipreg."""


class InvalidArgumentError(GossipregError, ValueError):
    """A caller passed a value that is not allowed (bad type, too long, empty, ...)."""


class AgentExistsError(InvalidArgumentError):
    """An agent id is already registered (kaizen raises ``ValueError`` here too)."""


class CardTooLargeError(InvalidArgumentError):
    """A card whose JSON text is over ``cards.CARD_MAX_BYTES`` (HTTP answers 413). Here, not
    in :mod:`gossipreg.core.directory.cards`, so that the HTTP API catches it without importing
    the cards' module (at a node's first card)."""


class NoMatchError(GossipregError):
    """A selection found no agent to choose (HTTP 404, CLI exit 1)."""

    code = "not_found"


class NotOwnerError(GossipregError):
    """A write was addressed to a record that this node does not own."""


class NodeStateError(GossipregError, RuntimeError):
    """The node is in a state that does not allow the call (e.g. it has left)."""


class JoinError(NodeStateError):
    """No seed answered a join in the time allowed, or a seed refused this node's name."""


class ConfigError(InvalidArgumentError):
    """A configuration value is invalid."""


class CodecError(GossipregError):
    """A packet could not be decoded or verified. ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
