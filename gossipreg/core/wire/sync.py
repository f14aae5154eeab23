"""Directory messages: writes, beacons, the push-pull exchange and owner requests (one class
per kind: fields, encoding and parsing together; the rules are those of ``wire.messages``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.wire import fields as f
from gossipreg.core.wire.fields import Digest, MemberRow, OwnerDelta, ValueCodec, Write
from gossipreg.core.wire.tags import Tag

__all__ = ["Beacon", "Request", "Response", "Sync", "SyncAck", "SyncAck2", "WriteMsg",
           "parse_write", "write_first_release", "write_wire"]

_OPS = ("deregister", "heartbeat", "status")
_uint, _node_id, _bounded, _MAX_INT = f.uint, f.node_id, f.bounded_list, f.MAX_INT


def _need(values: ValueCodec | None) -> ValueCodec:
    if values is None:
        raise InvalidArgumentError("this message carries values: pass the value codec")
    return values


def write_wire(w: Write, values: ValueCodec) -> list[Any]:
    """The wire list of a WRITE (the most frequent message: no dispatch on the way); a signed
    one carries its signature as a trailing item."""
    out = [Tag.WRITE, w.owner, w.generation, w.key, w.version, w.deleted,
           values.to_wire(w.value), list(w.supersedes)]
    if w.sig is not None:
        out.append(w.sig)
    return out


def write_first_release(w: Write, values: ValueCodec) -> list[Any] | None:
    """A WRITE as a first-release node accepts it, or None when it would refuse it."""
    value = values.first_release(w.key, w.value)
    if value is f.NO_FORM:
        return None
    return [Tag.WRITE, w.owner, w.generation, w.key, w.version, w.deleted, value,
            list(w.supersedes)]


@dataclass(frozen=True, slots=True)
class WriteMsg:
    TAG: ClassVar[Tag] = Tag.WRITE
    write: Write

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return write_wire(self.write, _need(values))

    def first_release_wire(self, values: ValueCodec | None = None) -> list[Any] | None:
        return write_first_release(self.write, _need(values))

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> WriteMsg:
        return cls(parse_write(raw, _need(values)))


def parse_write(raw: list[Any], values: ValueCodec) -> Write:
    """The write a WRITE's wire list carries (what ``WriteMsg.from_wire`` wraps): the most
    frequent message, so each check's usual case is inline (a receive's cost is mostly calls),
    the field reader otherwise, which raises. Raises InvalidArgumentError."""
    if len(raw) < 8:
        raise InvalidArgumentError("write must have at least 8 items")
    value = values.from_wire(raw[3], raw[5], raw[6])
    owner, generation, version = raw[1], raw[2], raw[4]
    if type(owner) is not str or not 0 < len(owner) <= 255 or not owner.isprintable():
        _node_id(owner, "owner")
    if type(generation) is not int or not 0 <= generation <= _MAX_INT:
        _uint(generation)
    if type(version) is not int or not 0 <= version <= _MAX_INT:
        _uint(version)
    sup: tuple[int, ...] = ()
    if raw[7]:
        sup = tuple(_uint(v) for v in _bounded(raw[7], 64))
        if any(v >= version for v in sup):
            raise InvalidArgumentError("a write can only supersede older versions")
    elif type(raw[7]) is not list:
        raise InvalidArgumentError("expected a bounded list")
    return Write(owner, generation, raw[3], version, raw[5], value, sup,
                 f.opt_sig(raw[8]) if len(raw) > 8 else None)


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

    def to_wire(self, values: ValueCodec | None = None, first_release: bool = False
                ) -> list[Any]:
        return [Tag.SYNC, self.xid, f.digest_to_wire(self.digest), self.member_hash,
                f.rows_to_wire(self.members, first_release), self.join]

    def first_release_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return self.to_wire(values, first_release=True)

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

    def to_wire(self, values: ValueCodec | None = None, first_release: bool = False
                ) -> list[Any]:
        return [Tag.SYNC_ACK, self.xid,
                f.deltas_to_wire(self.deltas, _need(values), first_release),
                f.digest_to_wire(self.digest), f.rows_to_wire(self.members, first_release),
                self.want_members]

    def first_release_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return self.to_wire(values, first_release=True)

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

    def to_wire(self, values: ValueCodec | None = None, first_release: bool = False
                ) -> list[Any]:
        return [Tag.SYNC_ACK2, self.xid,
                f.deltas_to_wire(self.deltas, _need(values), first_release),
                f.rows_to_wire(self.members, first_release)]

    def first_release_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return self.to_wire(values, first_release=True)

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> SyncAck2:
        f.at_least(raw, 4, "sync-ack2")
        return cls(f.uint(raw[1]), f.deltas_from_wire(raw[2], _need(values)),
                   f.rows_from_wire(raw[3]))


@dataclass(frozen=True, slots=True)
class Request:
    """Ask an agent's owner to act on it: ``op`` is ``deregister``, ``heartbeat`` or
    ``status`` (sent only to owners that announced ``Feature.SIGNED``), whose ``args`` are
    ``(status, cause)`` (a trailing item: the other ops have none)."""

    TAG: ClassVar[Tag] = Tag.REQUEST
    req_id: int
    op: str
    agent_id: str
    args: tuple[str, str] | None = None

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        out = [Tag.REQUEST, self.req_id, self.op, self.agent_id]
        return out if self.args is None else [*out, list(self.args)]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Request:
        f.at_least(raw, 4, "request")
        if raw[2] not in _OPS:
            raise InvalidArgumentError("unknown request op")
        args = None
        if raw[2] == "status":
            f.at_least(raw, 5, "status request")
            a = f.bounded_list(raw[4], 8)
            f.at_least(a, 2, "status request arguments")
            if not (isinstance(a[0], str) and isinstance(a[1], str) and len(a[1]) <= 64):
                raise InvalidArgumentError("status request arguments are [status, cause]")
            args = (a[0], a[1])
        return cls(f.uint(raw[1]), raw[2], f.node_id(raw[3], "agent_id"), args)


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
