"""Field checks and the shared shapes that several messages carry (member rows, digests, deltas).

Rules: every reader raises :class:`InvalidArgumentError` on a bad field and never returns a value
it did not check; integers are non-negative 64-bit, lists are bounded, ids and addresses are
checked (an unspecified address is never accepted: peers could not reach it). A shape with
more items than this release knows is read up to what it knows (the wire rule in
``gossipreg.core.wire``); a shape with fewer is malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import MemberState, check_id
from gossipreg.core.wire.addresses import is_unspecified

__all__ = [
    "MAX_INT",
    "MAX_ITEMS",
    "NO_FORM",
    "Delta",
    "Digest",
    "MemberRow",
    "OwnerDelta",
    "ValueCodec",
    "Write",
    "addr",
    "at_least",
    "bounded_list",
    "deltas_from_wire",
    "deltas_to_wire",
    "digest_from_wire",
    "digest_to_wire",
    "flag",
    "node_id",
    "rows_from_wire",
    "rows_to_wire",
    "uint",
]

MAX_INT = 2**63 - 1
MAX_ITEMS = 100_000

Digest = dict[str, tuple[int, int]]


class ValueCodec(Protocol):
    """How the values of writes travel; injected by the layer that knows them (the directory),
    so the wire knows no agent records."""

    def to_wire(self, value: Any) -> Any:
        """The msgpack-able form of a stored value."""
        ...

    def from_wire(self, key: object, deleted: object, raw: object) -> Any:
        """Check a ``(key, deleted, value)`` triple from the network and return the value to
        store; raises InvalidArgumentError."""
        ...

    def first_release(self, key: str, value: Any) -> Any:
        """The form of a stored value that a first-release node accepts, or :data:`NO_FORM`
        when it would refuse the key or the value (it is then not sent to such a node)."""
        ...

    def first_release_unchanged(self, key: str) -> bool:
        """Whether every value under ``key`` has the same form for a first-release node (so a
        write of it is packed once for every peer)."""
        ...


class _NoForm:
    def __repr__(self) -> str:
        return "NO_FORM"


NO_FORM: Any = _NoForm()  # what a first-release node cannot be sent


@dataclass(frozen=True, slots=True)
class Write:
    """One owner write as it travels on the fast path. ``supersedes`` lists older versions of
    the same key that this write replaces (so receivers can settle them without seeing them)."""

    owner: str
    generation: int
    key: str
    version: int
    deleted: bool
    value: Any
    supersedes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerDelta:
    """The part of a delta about one owner.

    ``since`` is the watermark the receiver advertised, ``upto`` the sender's watermark,
    ``entries`` ``(key, version, deleted, value)`` in ascending version order, ``complete``
    whether every entry the sender has above ``since`` is included, ``floor`` the sender's
    collection horizon, ``manifest`` (when the receiver is behind ``floor``) the sender's live
    and tombstoned keys with versions.
    """

    owner: str
    generation: int
    since: int
    upto: int
    entries: tuple[tuple[str, int, bool, Any], ...]
    complete: bool
    manifest: tuple[tuple[str, int], ...] | None = None
    floor: int = 0


Delta = list[OwnerDelta]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the table exchange carries it."""

    node: str
    addr: str
    generation: int
    incarnation: int
    state: MemberState


# ------------------------------------------------------------------------------ field readers
def uint(v: object) -> int:
    if type(v) is not int or not 0 <= v <= MAX_INT:
        raise InvalidArgumentError("expected a non-negative integer")
    return v


def flag(v: object) -> bool:
    if type(v) is not bool:
        raise InvalidArgumentError("expected a bool")
    return v


def node_id(v: object, what: str = "node_id") -> str:
    return check_id(v, what)


def addr(v: object) -> str:
    if not isinstance(v, str) or not 0 < len(v) <= 255:
        raise InvalidArgumentError("expected an address")
    if is_unspecified(v):
        raise InvalidArgumentError("an unspecified address (0.0.0.0, ::) is not reachable")
    return v


def bounded_list(v: object, max_items: int = MAX_ITEMS) -> list[Any]:
    if not isinstance(v, list) or len(v) > max_items:
        raise InvalidArgumentError("expected a bounded list")
    return v


def at_least(raw: list[Any], n: int, what: str) -> None:
    """A shape needs the ``n`` items this release knows; more are a newer peer's and ignored."""
    if len(raw) < n:
        raise InvalidArgumentError(f"{what} must have at least {n} items")


# ------------------------------------------------------------------------------ shared shapes
def rows_to_wire(rows: tuple[MemberRow, ...] | None) -> list[list[Any]] | None:
    if rows is None:
        return None
    return [[r.node, r.addr, r.generation, r.incarnation, int(r.state)] for r in rows]


def rows_from_wire(v: object) -> tuple[MemberRow, ...] | None:
    if v is None:
        return None
    rows = []
    for raw in bounded_list(v):
        row = bounded_list(raw)
        at_least(row, 5, "member row")
        state = uint(row[4])
        if state > MemberState.LEFT:
            raise InvalidArgumentError("unknown member state")
        rows.append(MemberRow(node_id(row[0]), addr(row[1]), uint(row[2]), uint(row[3]),
                              MemberState(state)))
    return tuple(rows)


def digest_to_wire(d: Digest | None) -> dict[str, list[int]] | None:
    return None if d is None else {k: [g, v] for k, (g, v) in d.items()}


def digest_from_wire(v: object) -> Digest:
    if not isinstance(v, dict) or len(v) > MAX_ITEMS:
        raise InvalidArgumentError("digest must be a bounded map")
    out: Digest = {}
    for owner, gw in v.items():
        pair = bounded_list(gw, 16)
        at_least(pair, 2, "digest value")
        out[node_id(owner, "owner")] = (uint(pair[0]), uint(pair[1]))
    return out


def deltas_to_wire(deltas: tuple[OwnerDelta, ...], values: ValueCodec,
                   first_release: bool = False) -> list[list[Any]]:
    """Deltas as they travel; for a first-release node, without the entries it would refuse
    (they are irrelevant to it, and the watermark still covers their versions)."""
    if first_release:
        form = values.first_release
        rows = [[[k, v, deleted, w] for k, v, deleted, value in d.entries
                 if (w := form(k, value)) is not NO_FORM] for d in deltas]
    else:
        to_wire = values.to_wire
        rows = [[[k, v, deleted, to_wire(value)] for k, v, deleted, value in d.entries]
                for d in deltas]
    return [[d.owner, d.generation, d.since, d.upto, d.complete, entries,
             None if d.manifest is None else [list(m) for m in d.manifest],
             d.floor] for d, entries in zip(deltas, rows, strict=True)]


def deltas_from_wire(v: object, values: ValueCodec) -> tuple[OwnerDelta, ...]:
    out = []
    for raw in bounded_list(v):
        d = bounded_list(raw, 64)
        at_least(d, 8, "owner delta")
        owner = node_id(d[0], "owner")
        entries = []
        last = 0
        for e in bounded_list(d[5]):
            item = bounded_list(e, 64)
            at_least(item, 4, "delta entry")
            key, version, deleted, value = item[:4]
            version = uint(version)
            if version <= last:
                raise InvalidArgumentError("delta entries must ascend by version")
            last = version
            entries.append((key, version, deleted, values.from_wire(key, deleted, value)))
        manifest = None
        if d[6] is not None:
            pairs = []
            for m in bounded_list(d[6]):
                pair = bounded_list(m, 16)
                at_least(pair, 2, "manifest item")
                if not isinstance(pair[0], str):
                    raise InvalidArgumentError("manifest item must be [key, version]")
                pairs.append((pair[0], uint(pair[1])))
            manifest = tuple(pairs)
        out.append(OwnerDelta(owner, uint(d[1]), uint(d[2]), uint(d[3]), tuple(entries),
                              flag(d[4]), manifest, uint(d[7])))
    return tuple(out)
