"""Message tags and feature bits: both append only, never renumbered or reused."""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = ["FEATURES", "Feature", "Tag"]


class Tag(IntEnum):
    """Message type tags. Append only: never renumber, never reuse."""

    PING = 1
    ACK = 2
    PING_REQ = 3
    NACK = 4
    ALIVE = 5
    SUSPECT = 6
    DEAD = 7
    LEFT = 8
    WRITE = 9
    SYNC = 10
    SYNC_ACK = 11
    SYNC_ACK2 = 12
    REQUEST = 13
    RESPONSE = 14
    BEACON = 15
    FEATURES = 16


class Feature(IntFlag):
    """What a node understands beyond the first release, announced in ``Features`` (append
    only). A peer that announced nothing is a first-release node: it parses every shape at its
    exact length, so it is sent nothing it would refuse."""

    EXTENSIBLE = 1  # reads the fields it knows, ignores trailing ones; understands FEATURES
    # Keeps owners' signatures with their entries and relays them, checks them when it has an
    # identity, and takes the ``status`` request op (status keys are written by owners only).
    SIGNED = 2
    # Refuses whatever is unsigned; a node that joins through it in automatic mode does too.
    REQUIRES_SIGNATURES = 4
    # Paths a node's transport offers besides HTTP POST to ``/v1/gossip`` (announced by the
    # transport, not by every node of this release: see ``Node(features=)``).
    DATAGRAM = 8  # takes frames as UDP datagrams on its address's port number
    STREAM = 16  # takes frames over a WebSocket link (``/v1/gossip/ws`` at its address)


FEATURES = Feature.EXTENSIBLE | Feature.SIGNED  # this release's, whatever its transport
