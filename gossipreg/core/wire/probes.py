"""Failure-detection messages: ping, ack, ping-req and nack (one class per kind: fields,
encoding and parsing together; the rules are those of ``wire.messages``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gossipreg.core.wire import fields as f
from gossipreg.core.wire.fields import ValueCodec
from gossipreg.core.wire.tags import Tag

__all__ = ["Ack", "Nack", "Ping", "PingReq"]


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
        seq, target = raw[1], raw[2]  # (each check's usual case inline: one per probe)
        if type(seq) is not int or not 0 <= seq <= f.MAX_INT:
            f.uint(seq)
        if type(target) is not str or not 0 < len(target) <= 255 or not target.isprintable():
            f.node_id(target)
        return cls(seq, target)


@dataclass(frozen=True, slots=True)
class Ack:
    TAG: ClassVar[Tag] = Tag.ACK
    seq: int

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.ACK, self.seq]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Ack:
        f.at_least(raw, 2, "ack")
        seq = raw[1]
        if type(seq) is not int or not 0 <= seq <= f.MAX_INT:
            f.uint(seq)
        return cls(seq)


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
