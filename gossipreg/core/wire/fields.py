"""Field checks and the shared shapes that several messages carry (member rows, digests, deltas).

Rules: every reader raises :class:`InvalidArgumentError` on a bad field and never returns a value
it did not check; integers are non-negative 64-bit, lists are bounded, ids and addresses are
checked (an unspecified address is never accepted: peers could not reach it). A shape with
more items than this release knows is read up to what it knows (the wire rule in
``gossipreg.core.wire``); a shape with fewer is malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import ID_MAX_LEN, MemberState, check_id
from gossipreg.core.wire.addresses import is_unspecified

__all__ = [
    "KEY_SIZE",
    "MAX_INT",
    "MAX_ITEMS",
    "NO_FORM",
    "SIG_SIZE",
    "Delta",
    "Digest",
    "MemberRow",
    "OwnerDelta",
    "Proof",
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
    "key_bytes",
    "node_id",
    "opt_sig",
    "proof_from_wire",
    "proof_to_wire",
    "rows_from_wire",
    "rows_to_wire",
    "sig_bytes",
    "supersedes",
    "uint",
]

MAX_INT = 2**63 - 1
_STATES = tuple(MemberState)  # by value: 0, 1, 2, 3
MAX_ITEMS = 100_000
KEY_SIZE = 32  # an Ed25519 public key
SIG_SIZE = 64  # an Ed25519 signature

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


class Proof(NamedTuple):
    """A member's signed statement about itself, as it travels with its ``Alive``, its ``Left``
    and its member row: its public ``key``, its signature ``sig`` of the statement, ``rot``,
    the signature by its previous key of the move to ``key`` (a rotation), if it rotated, and
    ``cert``, a certificate of the mesh CA binding its name to ``key`` (DER), if it has one."""

    key: bytes
    sig: bytes
    rot: bytes | None = None
    cert: bytes | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """One owner write as it travels on the fast path. ``supersedes`` lists older versions of
    the same key that this write replaces (so receivers can settle them without seeing them);
    ``sig`` is the owner's signature over every other field (None: an unsigned owner's)."""

    owner: str
    generation: int
    key: str
    version: int
    deleted: bool
    value: Any
    supersedes: tuple[int, ...] = ()
    sig: bytes | None = None


@dataclass(frozen=True, slots=True)
class OwnerDelta:
    """The part of a delta about one owner.

    ``since`` is the watermark the receiver advertised, ``upto`` the sender's watermark,
    ``entries`` ``(key, version, deleted, value)`` in ascending version order, ``complete``
    whether every entry the sender has above ``since`` is included, ``floor`` the sender's
    collection horizon, ``manifest`` (when the receiver is behind ``floor``) the sender's live
    and tombstoned keys with versions. ``proofs`` (None when no entry is signed) holds, per
    entry, ``(signature, supersedes)`` as its owner signed it, or None; ``manifest_sig`` is the
    owner's signature of its own manifest (a relay's manifest has none).
    """

    owner: str
    generation: int
    since: int
    upto: int
    entries: tuple[tuple[str, int, bool, Any], ...]
    complete: bool
    manifest: tuple[tuple[str, int], ...] | None = None
    floor: int = 0
    proofs: tuple[tuple[bytes, tuple[int, ...]] | None, ...] | None = None
    manifest_sig: bytes | None = None


Delta = list[OwnerDelta]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the table exchange carries it."""

    node: str
    addr: str
    generation: int
    incarnation: int
    state: MemberState
    proof: Proof | None = None  # the member's own statement at this version (see Proof)


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


def key_bytes(v: object) -> bytes:
    if type(v) is not bytes or len(v) != KEY_SIZE:
        raise InvalidArgumentError(f"expected a {KEY_SIZE}-byte public key")
    return v


def sig_bytes(v: object) -> bytes:
    if type(v) is not bytes or len(v) != SIG_SIZE:
        raise InvalidArgumentError(f"expected a {SIG_SIZE}-byte signature")
    return v


def opt_sig(v: object) -> bytes | None:
    return None if v is None else sig_bytes(v)


def proof_to_wire(p: Proof | None) -> list[Any]:
    """The trailing items ``[key, sig, rot(, cert)]`` of an Alive or a member row (none:
    unsigned)."""
    if p is None:
        return []
    return [p.key, p.sig, p.rot] if p.cert is None else [p.key, p.sig, p.rot, p.cert]


def proof_from_wire(raw: list[Any], at: int) -> Proof | None:
    """The proof trailing a shape from item ``at`` (absent or None: unsigned)."""
    if len(raw) <= at + 1 or raw[at] is None:
        return None
    cert = raw[at + 3] if len(raw) > at + 3 else None
    if cert is not None and (type(cert) is not bytes or not 0 < len(cert) <= 8192):
        raise InvalidArgumentError("expected a certificate of at most 8192 bytes")
    return Proof(key_bytes(raw[at]), sig_bytes(raw[at + 1]),
                 opt_sig(raw[at + 2]) if len(raw) > at + 2 else None, cert)


def bounded_list(v: object, max_items: int = MAX_ITEMS) -> list[Any]:
    if not isinstance(v, list) or len(v) > max_items:
        raise InvalidArgumentError("expected a bounded list")
    return v


def at_least(raw: list[Any], n: int, what: str) -> None:
    """A shape needs the ``n`` items this release knows; more are a newer peer's and ignored."""
    if len(raw) < n:
        raise InvalidArgumentError(f"{what} must have at least {n} items")


# ------------------------------------------------------------------------------ shared shapes
def rows_to_wire(rows: tuple[MemberRow, ...] | None, first_release: bool = False
                 ) -> list[list[Any]] | None:
    """Member rows as they travel; for a first-release node, without their proofs."""
    if rows is None:
        return None
    if first_release:
        return [[r.node, r.addr, r.generation, r.incarnation, int(r.state)] for r in rows]
    return [[r.node, r.addr, r.generation, r.incarnation, int(r.state), *proof_to_wire(r.proof)]
            for r in rows]


def rows_from_wire(v: object) -> tuple[MemberRow, ...] | None:
    if v is None:
        return None
    rows = []
    for raw in bounded_list(v):
        # An unsigned row of well-typed items (every row between unsigned nodes): the checks
        # below, inline (a table exchange carries every member); anything else takes them.
        if type(raw) is list and len(raw) == 5:
            n, a, g, i, st = raw
            if (type(n) is str and 0 < len(n) <= ID_MAX_LEN and n.isprintable()
                    and type(a) is str and 0 < len(a) <= 255 and not is_unspecified(a)
                    and type(g) is int and 0 <= g <= MAX_INT
                    and type(i) is int and 0 <= i <= MAX_INT
                    and type(st) is int and 0 <= st <= MemberState.LEFT):
                rows.append(MemberRow(n, a, g, i, _STATES[st]))
                continue
        row = bounded_list(raw)
        at_least(row, 5, "member row")
        state = uint(row[4])
        if state > MemberState.LEFT:
            raise InvalidArgumentError("unknown member state")
        rows.append(MemberRow(node_id(row[0]), addr(row[1]), uint(row[2]), uint(row[3]),
                              MemberState(state), proof_from_wire(row, 5)))
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
        return [[d.owner, d.generation, d.since, d.upto, d.complete, entries,
                 None if d.manifest is None else [list(m) for m in d.manifest],
                 d.floor] for d, entries in zip(deltas, rows, strict=True)]
    to_wire = values.to_wire
    rows = []
    for d in deltas:
        if d.proofs is None:
            rows.append([[k, v, deleted, to_wire(value)] for k, v, deleted, value in d.entries])
        else:  # a signed entry carries its signature and what it superseded
            rows.append([[k, v, deleted, to_wire(value)] if p is None
                         else [k, v, deleted, to_wire(value), p[0], list(p[1])]
                         for (k, v, deleted, value), p in zip(d.entries, d.proofs, strict=True)])
    return [[d.owner, d.generation, d.since, d.upto, d.complete, entries,
             None if d.manifest is None else [list(m) for m in d.manifest], d.floor,
             *(() if d.manifest_sig is None else (d.manifest_sig,))]
            for d, entries in zip(deltas, rows, strict=True)]


def deltas_from_wire(v: object, values: ValueCodec) -> tuple[OwnerDelta, ...]:
    out = []
    for raw in bounded_list(v):
        d = bounded_list(raw, 64)
        at_least(d, 8, "owner delta")
        owner = node_id(d[0], "owner")
        entries = []
        proofs: list[tuple[bytes, tuple[int, ...]] | None] = []
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
            proofs.append(None if len(item) < 6 or item[4] is None else
                          (sig_bytes(item[4]), supersedes(item[5], version)))
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
                              flag(d[4]), manifest, uint(d[7]),
                              tuple(proofs) if any(p is not None for p in proofs) else None,
                              opt_sig(d[8]) if len(d) > 8 else None))
    return tuple(out)


def supersedes(v: object, version: int) -> tuple[int, ...]:
    """The older versions a write names as superseded (each below ``version``)."""
    sup = tuple(uint(x) for x in bounded_list(v, 64))
    if any(x >= version for x in sup):
        raise InvalidArgumentError("a write can only supersede older versions")
    return sup
