"""Protocol messages: one class per kind holds its tag, its fields, its encoding and its parsing.

Rules: on the wire a message is a msgpack list ``[tag, field, ...]`` inside a codec frame.
``Tag`` values are append only, never renumbered or reused. A kind's fields are append only
too: a parser reads the fields it knows and ignores trailing ones (the wire rule in
``gossipreg.core.wire``). An unknown tag is a newer peer's message: ``parse`` returns None and
the node drops it, counted as ``unknown_type``. Values that writes carry are encoded and
checked by the injected :class:`ValueCodec`.
"""

from __future__ import annotations

from typing import Any, Protocol

from gossipreg.core.wire.fields import Delta, Digest, MemberRow, OwnerDelta, ValueCodec, Write
from gossipreg.core.wire.members import Alive, Dead, Features, Left, Suspect
from gossipreg.core.wire.probes import Ack, Nack, Ping, PingReq
from gossipreg.core.wire.sync import (
    Beacon,
    Request,
    Response,
    Sync,
    SyncAck,
    SyncAck2,
    WriteMsg,
    parse_write,
    write_first_release,
    write_wire,
)
from gossipreg.core.wire.tags import FEATURES, Feature, Tag

__all__ = [
    "FEATURES", "KINDS", "Ack", "Alive", "Beacon", "Dead", "Delta", "Digest", "Feature",
    "Features", "Left", "MemberRow", "Message", "Nack", "OwnerDelta", "Ping", "PingReq",
    "Request", "Response", "Sender", "Suspect", "Sync", "SyncAck", "SyncAck2", "Tag",
    "ValueCodec", "Write", "WriteMsg", "encode", "encode_first_release", "parse",
    "parse_write", "write_first_release", "write_wire",
]


Message = (
    Ping | Ack | PingReq | Nack | Alive | Suspect | Dead | Left | WriteMsg | Sync | SyncAck
    | SyncAck2 | Request | Response | Beacon | Features
)

# Every kind by its tag: parsing dispatches here, and a test round-trips each one.
KINDS: dict[int, Any] = {int(cls.TAG): cls for cls in (
    Ping, Ack, PingReq, Nack, Alive, Suspect, Dead, Left, WriteMsg, Sync, SyncAck, SyncAck2,
    Request, Response, Beacon, Features)}


class Sender(Protocol):
    """Where a state machine's messages go (the node's dissemination: packets are built at
    the end of the current input; ``stream``: its packet must not travel as a datagram)."""

    def send(self, addr: str, msg: Message, stream: bool = False) -> None: ...


def encode(m: Message, values: ValueCodec | None = None) -> list[Any]:
    """The wire list of a message (``values`` is needed by the kinds that carry writes)."""
    return m.to_wire(values)


def encode_first_release(m: Message, values: ValueCodec | None = None) -> list[Any] | None:
    """The message as a first-release node accepts it (no trailing items, no entries under keys
    it does not know), or None when it has no such form."""
    form = getattr(m, "first_release_wire", None)
    if form is None:
        return m.to_wire(values)
    out: list[Any] | None = form(values)
    return out


def parse(raw: list[Any], values: ValueCodec | None = None) -> Message | None:
    """Parse a wire message (a list whose first item is an int tag, as the codec checked).
    Returns None for an unknown tag; raises InvalidArgumentError for a malformed known one."""
    cls = KINDS.get(raw[0])
    if cls is None:
        return None
    msg: Message = cls.from_wire(raw, values)
    return msg
