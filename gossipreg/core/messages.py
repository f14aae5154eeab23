"""Protocol messages: append-only type tags, their dataclasses and their wire shape.

Rules: on the wire a message is a msgpack list ``[tag, field, ...]`` inside a codec frame;
``encode`` builds it, ``gossipreg.core.message_parse.parse`` reads it back strictly. Tags are
never reused; an unknown tag is a message from a newer peer and is dropped (counted as
``unknown_type``).

Member and digest tuples:
- member: ``[node_id, address, generation, incarnation, state]`` (state = MemberState value)
- digest: ``{owner: [generation, watermark]}``
- write: ``[owner, generation, key, version, deleted, value, [superseded versions]]``
- owner delta: ``[owner, generation, since, upto, complete, entries, manifest|None, floor]`` with
  entries ``[[key, version, deleted, value], ...]`` and manifest ``[[key, version], ...]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.records import to_wire
from gossipreg.core.replica import OwnerDelta, Write
from gossipreg.core.types import MemberState

__all__ = [
    "Ack",
    "Alive",
    "Beacon",
    "Dead",
    "Left",
    "MemberRow",
    "Message",
    "Nack",
    "Ping",
    "PingReq",
    "Request",
    "Response",
    "Sender",
    "Suspect",
    "Sync",
    "SyncAck",
    "SyncAck2",
    "Tag",
    "WriteMsg",
    "encode",
    "write_wire",
]


class Tag:
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




@dataclass(frozen=True, slots=True)
class Ping:
    seq: int
    target: str


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int


@dataclass(frozen=True, slots=True)
class PingReq:
    seq: int
    target: str
    target_addr: str


@dataclass(frozen=True, slots=True)
class Nack:
    seq: int


@dataclass(frozen=True, slots=True)
class Alive:
    node: str
    addr: str
    generation: int
    incarnation: int


@dataclass(frozen=True, slots=True)
class Suspect:
    node: str
    generation: int
    incarnation: int
    source: str


@dataclass(frozen=True, slots=True)
class Dead:
    node: str
    generation: int
    incarnation: int
    source: str


@dataclass(frozen=True, slots=True)
class Left:
    node: str
    generation: int
    incarnation: int


@dataclass(frozen=True, slots=True)
class WriteMsg:
    write: Write


@dataclass(frozen=True, slots=True)
class Beacon:
    """An owner's latest version, gossiped once it has been quiet for ``beacon_delay``: a node
    that missed the owner's last write learns of the hole (no later write would show it)."""

    owner: str
    generation: int
    version: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    node: str
    addr: str
    generation: int
    incarnation: int
    state: MemberState


@dataclass(frozen=True, slots=True)
class Sync:
    """Push-pull opening: our digest, a hash of our member table, and (join, re-probe, or on
    request) the table itself."""

    xid: int
    digest: dict[str, tuple[int, int]]
    member_hash: bytes
    members: tuple[MemberRow, ...] | None
    join: bool


@dataclass(frozen=True, slots=True)
class SyncAck:
    """Push-pull answer: what the opener lacks, our digest when the opener has something for us,
    our members when the hashes differ (and then ``want_members``)."""

    xid: int
    deltas: tuple[OwnerDelta, ...]
    digest: dict[str, tuple[int, int]] | None
    members: tuple[MemberRow, ...] | None
    want_members: bool


@dataclass(frozen=True, slots=True)
class SyncAck2:
    xid: int
    deltas: tuple[OwnerDelta, ...]
    members: tuple[MemberRow, ...] | None


@dataclass(frozen=True, slots=True)
class Request:
    """Ask an agent's owner to act on it (``op`` is ``deregister`` or ``heartbeat``)."""

    req_id: int
    op: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class Response:
    req_id: int
    ok: bool
    detail: str


Message = (
    Ping | Ack | PingReq | Nack | Alive | Suspect | Dead | Left | WriteMsg | Sync | SyncAck
    | SyncAck2 | Request | Response | Beacon
)


class Sender(Protocol):
    """Where a state machine's messages go (the node's dissemination: packets are built at
    the end of the current input)."""

    def send(self, addr: str, msg: Message) -> None: ...


# ---------------------------------------------------------------------------- encoding
def _members_wire(rows: tuple[MemberRow, ...] | None) -> list[list[Any]] | None:
    if rows is None:
        return None
    return [[r.node, r.addr, r.generation, r.incarnation, int(r.state)] for r in rows]


def _delta_wire(d: OwnerDelta) -> list[Any]:
    return [
        d.owner, d.generation, d.since, d.upto, d.complete,
        [[k, v, deleted, to_wire(value)] for k, v, deleted, value in d.entries],
        None if d.manifest is None else [list(m) for m in d.manifest],
        d.floor,
    ]


def _digest_wire(d: dict[str, tuple[int, int]] | None) -> dict[str, list[int]] | None:
    return None if d is None else {k: [g, v] for k, (g, v) in d.items()}


def write_wire(w: Write) -> list[Any]:
    """The wire list of a WRITE (the most frequent message: no dispatch on the way)."""
    return [Tag.WRITE, w.owner, w.generation, w.key, w.version, w.deleted, to_wire(w.value),
            list(w.supersedes)]


def encode(m: Message) -> list[Any]:
    """The wire list of a message."""
    match m:
        case Ping():
            return [Tag.PING, m.seq, m.target]
        case Ack():
            return [Tag.ACK, m.seq]
        case PingReq():
            return [Tag.PING_REQ, m.seq, m.target, m.target_addr]
        case Nack():
            return [Tag.NACK, m.seq]
        case Alive():
            return [Tag.ALIVE, m.node, m.addr, m.generation, m.incarnation]
        case Suspect():
            return [Tag.SUSPECT, m.node, m.generation, m.incarnation, m.source]
        case Dead():
            return [Tag.DEAD, m.node, m.generation, m.incarnation, m.source]
        case Left():
            return [Tag.LEFT, m.node, m.generation, m.incarnation]
        case WriteMsg():
            return write_wire(m.write)
        case Beacon():
            return [Tag.BEACON, m.owner, m.generation, m.version]
        case Sync():
            return [Tag.SYNC, m.xid, _digest_wire(m.digest), m.member_hash,
                    _members_wire(m.members), m.join]
        case SyncAck():
            return [Tag.SYNC_ACK, m.xid, [_delta_wire(d) for d in m.deltas],
                    _digest_wire(m.digest), _members_wire(m.members), m.want_members]
        case SyncAck2():
            return [Tag.SYNC_ACK2, m.xid, [_delta_wire(d) for d in m.deltas],
                    _members_wire(m.members)]
        case Request():
            return [Tag.REQUEST, m.req_id, m.op, m.agent_id]
        case Response():
            return [Tag.RESPONSE, m.req_id, m.ok, m.detail]
    raise InvalidArgumentError(f"not a message: {type(m).__name__}")  # pragma: no cover
