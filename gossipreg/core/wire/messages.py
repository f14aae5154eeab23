"""Protocol messages: one class per kind holds its tag, its fields, its encoding and its parsing.

Rules: on the wire a message is a msgpack list ``[tag, field, ...]`` inside a codec frame.
``Tag`` values are append only, never renumbered or reused. A kind's fields are append only
too: a parser reads the fields it knows and ignores trailing ones (the wire rule in
``gossipreg.core.wire``). An unknown tag is a newer peer's message: ``parse`` returns None and
the node drops it, counted as ``unknown_type``. Values that writes carry are encoded and
checked by the injected :class:`ValueCodec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Protocol

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.wire import fields as f
from gossipreg.core.wire.fields import Delta, Digest, MemberRow, OwnerDelta, ValueCodec, Write

__all__ = [
    "KINDS", "Ack", "Alive", "Beacon", "Dead", "Delta", "Digest", "Features", "Left", "MemberRow",
    "Message", "Nack", "OwnerDelta", "Ping", "PingReq", "Request", "Response", "Sender",
    "Suspect", "Sync", "SyncAck", "SyncAck2", "Tag", "ValueCodec", "Write", "WriteMsg",
    "encode", "parse", "write_wire",
]


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


_OPS = ("deregister", "heartbeat")


def _need(values: ValueCodec | None) -> ValueCodec:
    if values is None:
        raise InvalidArgumentError("this message carries values: pass the value codec")
    return values


@dataclass(frozen=True, slots=True)
class Ping:
    TAG: ClassVar[Tag] = Tag.PING
    seq: int
    target: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.PING, self.seq, self.target]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Ping:
        f.at_least(raw, 3, "ping")
        return cls(f.uint(raw[1]), f.node_id(raw[2]))


@dataclass(frozen=True, slots=True)
class Ack:
    TAG: ClassVar[Tag] = Tag.ACK
    seq: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.ACK, self.seq]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Ack:
        f.at_least(raw, 2, "ack")
        return cls(f.uint(raw[1]))


@dataclass(frozen=True, slots=True)
class PingReq:
    TAG: ClassVar[Tag] = Tag.PING_REQ
    seq: int
    target: str
    target_addr: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.PING_REQ, self.seq, self.target, self.target_addr]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> PingReq:
        f.at_least(raw, 4, "ping-req")
        return cls(f.uint(raw[1]), f.node_id(raw[2]), f.addr(raw[3]))


@dataclass(frozen=True, slots=True)
class Nack:
    TAG: ClassVar[Tag] = Tag.NACK
    seq: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.NACK, self.seq]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Nack:
        f.at_least(raw, 2, "nack")
        return cls(f.uint(raw[1]))


@dataclass(frozen=True, slots=True)
class Alive:
    TAG: ClassVar[Tag] = Tag.ALIVE
    node: str
    addr: str
    generation: int
    incarnation: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.ALIVE, self.node, self.addr, self.generation, self.incarnation]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Alive:
        f.at_least(raw, 5, "alive")
        return cls(f.node_id(raw[1]), f.addr(raw[2]), f.uint(raw[3]), f.uint(raw[4]))


@dataclass(frozen=True, slots=True)
class Suspect:
    TAG: ClassVar[Tag] = Tag.SUSPECT
    node: str
    generation: int
    incarnation: int
    source: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [self.TAG, self.node, self.generation, self.incarnation, self.source]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Suspect:
        f.at_least(raw, 5, "suspect")
        return cls(f.node_id(raw[1]), f.uint(raw[2]), f.uint(raw[3]), f.node_id(raw[4]))


@dataclass(frozen=True, slots=True)
class Dead:
    TAG: ClassVar[Tag] = Tag.DEAD
    node: str
    generation: int
    incarnation: int
    source: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [self.TAG, self.node, self.generation, self.incarnation, self.source]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Dead:
        f.at_least(raw, 5, "dead")
        return cls(f.node_id(raw[1]), f.uint(raw[2]), f.uint(raw[3]), f.node_id(raw[4]))


@dataclass(frozen=True, slots=True)
class Left:
    TAG: ClassVar[Tag] = Tag.LEFT
    node: str
    generation: int
    incarnation: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.LEFT, self.node, self.generation, self.incarnation]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Left:
        f.at_least(raw, 4, "left")
        return cls(f.node_id(raw[1]), f.uint(raw[2]), f.uint(raw[3]))


def write_wire(w: Write, values: ValueCodec) -> list[Any]:
    """The wire list of a WRITE (the most frequent message: no dispatch on the way)."""
    return [Tag.WRITE, w.owner, w.generation, w.key, w.version, w.deleted,
            values.to_wire(w.value), list(w.supersedes)]


@dataclass(frozen=True, slots=True)
class WriteMsg:
    TAG: ClassVar[Tag] = Tag.WRITE
    write: Write

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return write_wire(self.write, _need(values))

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> WriteMsg:
        f.at_least(raw, 8, "write")
        value = _need(values).from_wire(raw[3], raw[5], raw[6])
        version = f.uint(raw[4])
        sup = tuple(f.uint(v) for v in f.bounded_list(raw[7], 64))
        if any(v >= version for v in sup):
            raise InvalidArgumentError("a write can only supersede older versions")
        return cls(Write(f.node_id(raw[1], "owner"), f.uint(raw[2]), raw[3], version, raw[5],
                         value, sup))


@dataclass(frozen=True, slots=True)
class Beacon:
    """An owner's latest version, gossiped once it has been quiet for ``beacon_delay``: a node
    that missed the owner's last write learns of the hole (no later write would show it)."""

    TAG: ClassVar[Tag] = Tag.BEACON
    owner: str
    generation: int
    version: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.BEACON, self.owner, self.generation, self.version]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Beacon:
        f.at_least(raw, 4, "beacon")
        return cls(f.node_id(raw[1], "owner"), f.uint(raw[2]), f.uint(raw[3]))


@dataclass(frozen=True, slots=True)
class Sync:
    """Push-pull opening: our digest, a hash of our member table, and (join, re-probe, or on
    request) the table itself."""

    TAG: ClassVar[Tag] = Tag.SYNC
    xid: int
    digest: Digest
    member_hash: bytes
    members: tuple[MemberRow, ...] | None
    join: bool

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.SYNC, self.xid, f.digest_to_wire(self.digest), self.member_hash,
                f.rows_to_wire(self.members), self.join]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Sync:
        f.at_least(raw, 6, "sync")
        h = raw[3]
        if not isinstance(h, bytes) or len(h) > 64:
            raise InvalidArgumentError("member hash must be bytes")
        return cls(f.uint(raw[1]), f.digest_from_wire(raw[2]), h, f.rows_from_wire(raw[4]),
                   f.flag(raw[5]))


@dataclass(frozen=True, slots=True)
class SyncAck:
    """Push-pull answer: what the opener lacks, our digest when the opener has something for us,
    our members when the hashes differ (and then ``want_members``)."""

    TAG: ClassVar[Tag] = Tag.SYNC_ACK
    xid: int
    deltas: tuple[OwnerDelta, ...]
    digest: Digest | None
    members: tuple[MemberRow, ...] | None
    want_members: bool

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.SYNC_ACK, self.xid, f.deltas_to_wire(self.deltas, _need(values)),
                f.digest_to_wire(self.digest), f.rows_to_wire(self.members), self.want_members]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> SyncAck:
        f.at_least(raw, 6, "sync-ack")
        return cls(f.uint(raw[1]), f.deltas_from_wire(raw[2], _need(values)),
                   None if raw[3] is None else f.digest_from_wire(raw[3]),
                   f.rows_from_wire(raw[4]), f.flag(raw[5]))


@dataclass(frozen=True, slots=True)
class SyncAck2:
    TAG: ClassVar[Tag] = Tag.SYNC_ACK2
    xid: int
    deltas: tuple[OwnerDelta, ...]
    members: tuple[MemberRow, ...] | None

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.SYNC_ACK2, self.xid, f.deltas_to_wire(self.deltas, _need(values)),
                f.rows_to_wire(self.members)]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> SyncAck2:
        f.at_least(raw, 4, "sync-ack2")
        return cls(f.uint(raw[1]), f.deltas_from_wire(raw[2], _need(values)),
                   f.rows_from_wire(raw[3]))


@dataclass(frozen=True, slots=True)
class Request:
    """Ask an agent's owner to act on it (``op`` is ``deregister`` or ``heartbeat``)."""

    TAG: ClassVar[Tag] = Tag.REQUEST
    req_id: int
    op: str
    agent_id: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.REQUEST, self.req_id, self.op, self.agent_id]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Request:
        f.at_least(raw, 4, "request")
        if raw[2] not in _OPS:
            raise InvalidArgumentError("unknown request op")
        return cls(f.uint(raw[1]), raw[2], f.node_id(raw[3], "agent_id"))


@dataclass(frozen=True, slots=True)
class Response:
    TAG: ClassVar[Tag] = Tag.RESPONSE
    req_id: int
    ok: bool
    detail: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.RESPONSE, self.req_id, self.ok, self.detail]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Response:
        f.at_least(raw, 4, "response")
        detail = raw[3]
        if not isinstance(detail, str) or len(detail) > 1024:
            raise InvalidArgumentError("response detail must be a short string")
        return cls(f.uint(raw[1]), f.flag(raw[2]), detail)


@dataclass(frozen=True, slots=True)
class Features:
    """What members understand: ``rows`` of ``(node, generation, feature bits)``. A node sends
    its own row with its ``Alive`` and every known row with its member table; a peer that sent
    none (a previous release) is spoken to as that release understands (see ``wire``)."""

    TAG: ClassVar[Tag] = Tag.FEATURES
    rows: tuple[tuple[str, int, int], ...]

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.FEATURES, [list(r) for r in self.rows]]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Features:
        f.at_least(raw, 2, "features")
        rows = []
        for r in f.bounded_list(raw[1]):
            row = f.bounded_list(r, 16)
            f.at_least(row, 3, "features row")
            rows.append((f.node_id(row[0]), f.uint(row[1]), f.uint(row[2])))
        return cls(tuple(rows))


Message = (
    Ping | Ack | PingReq | Nack | Alive | Suspect | Dead | Left | WriteMsg | Sync | SyncAck
    | SyncAck2 | Request | Response | Beacon | Features
)

# Every kind by its tag: parsing dispatches here, and a test round-trips each one.
KINDS: dict[int, Any] = {cls.TAG: cls for cls in (
    Ping, Ack, PingReq, Nack, Alive, Suspect, Dead, Left, WriteMsg, Sync, SyncAck, SyncAck2,
    Request, Response, Beacon, Features)}


class Sender(Protocol):
    """Where a state machine's messages go (the node's dissemination: packets are built at
    the end of the current input)."""

    def send(self, addr: str, msg: Message) -> None: ...


def encode(m: Message, values: ValueCodec | None = None) -> list[Any]:
    """The wire list of a message (``values`` is needed by the kinds that carry writes)."""
    return m.to_wire(values)


def parse(raw: list[Any], values: ValueCodec | None = None) -> Message | None:
    """Parse a wire message (a list whose first item is an int tag, as the codec checked).
    Returns None for an unknown tag; raises InvalidArgumentError for a malformed known one."""
    cls = KINDS.get(raw[0])
    if cls is None:
        return None
    msg: Message = cls.from_wire(raw, values)
    return msg
