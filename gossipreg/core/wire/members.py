"""Membership messages: alive, suspect, dead, left and the members' feature bits (one class
per kind: fields, encoding and parsing together; the rules are those of ``wire.messages``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from gossipreg.core.wire import fields as f
from gossipreg.core.wire.fields import ValueCodec
from gossipreg.core.wire.tags import Tag

__all__ = ["Alive", "Dead", "Features", "Left", "Suspect"]


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
class _Verdict:
    """What a member holds about another: SUSPECT or DEAD (same fields, its own tag)."""

    TAG: ClassVar[Tag]
    node: str
    generation: int
    incarnation: int
    source: str

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [self.TAG, self.node, self.generation, self.incarnation, self.source]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Self:
        f.at_least(raw, 5, cls.__name__.lower())
        return cls(f.node_id(raw[1]), f.uint(raw[2]), f.uint(raw[3]), f.node_id(raw[4]))


@dataclass(frozen=True, slots=True)
class Suspect(_Verdict):
    TAG: ClassVar[Tag] = Tag.SUSPECT


@dataclass(frozen=True, slots=True)
class Dead(_Verdict):
    TAG: ClassVar[Tag] = Tag.DEAD


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


@dataclass(frozen=True, slots=True)
class Features:
    """What members understand: ``rows`` of ``(node, generation, feature bits)``. A node sends
    its own row with its ``Alive``, every known row with its member table, and its own row with
    ``ask`` set beside a probe of a member whose bits it lacks (which answers with its own); a
    peer that sent none (a previous release) is spoken to as that release understands."""

    TAG: ClassVar[Tag] = Tag.FEATURES
    rows: tuple[tuple[str, int, int], ...]
    ask: bool = False

    def to_wire(self, values: ValueCodec | None = None) -> list[Any]:
        return [Tag.FEATURES, [list(r) for r in self.rows], self.ask]

    @classmethod
    def from_wire(cls, raw: list[Any], values: ValueCodec | None = None) -> Features:
        f.at_least(raw, 3, "features")
        rows = []
        for r in f.bounded_list(raw[1]):
            row = f.bounded_list(r, 16)
            f.at_least(row, 3, "features row")
            rows.append((f.node_id(row[0]), f.uint(row[1]), f.uint(row[2])))
        return cls(tuple(rows), f.flag(raw[2]))
