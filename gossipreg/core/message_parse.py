"""Strict parsing of protocol messages (their shapes are in ``gossipreg.core.messages``).

Rules: a wire message becomes one of the message dataclasses or raises
:class:`InvalidArgumentError`; the node drops and counts such a message and leaves its state
untouched. Every integer is a non-negative 64-bit value, every list is bounded, every id and
address is checked (an unspecified address is never accepted: peers could not reach it), and
record values are validated as the replica would store them. An unknown tag returns None.
"""

from __future__ import annotations

from typing import Any

from gossipreg.core.addresses import is_unspecified
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.messages import (
    Ack,
    Alive,
    Beacon,
    Dead,
    Left,
    MemberRow,
    Message,
    Nack,
    Ping,
    PingReq,
    Request,
    Response,
    Suspect,
    Sync,
    SyncAck,
    SyncAck2,
    Tag,
    WriteMsg,
)
from gossipreg.core.records import check_id, validate_value
from gossipreg.core.replica import OwnerDelta, Write
from gossipreg.core.types import MemberState

__all__ = ["parse"]

_MAX_INT = 2**63 - 1
_MAX_ITEMS = 100_000
_OPS = ("deregister", "heartbeat")


def _int(v: object) -> int:
    if type(v) is not int or not 0 <= v <= _MAX_INT:
        raise InvalidArgumentError("expected a non-negative integer")
    return v


def _bool(v: object) -> bool:
    if type(v) is not bool:
        raise InvalidArgumentError("expected a bool")
    return v


def _addr(v: object) -> str:
    if not isinstance(v, str) or not 0 < len(v) <= 255:
        raise InvalidArgumentError("expected an address")
    if is_unspecified(v):
        raise InvalidArgumentError("an unspecified address (0.0.0.0, ::) is not reachable")
    return v


def _list(v: object, max_items: int = _MAX_ITEMS) -> list[Any]:
    if not isinstance(v, list) or len(v) > max_items:
        raise InvalidArgumentError("expected a bounded list")
    return v


def _members(v: object) -> tuple[MemberRow, ...] | None:
    if v is None:
        return None
    rows = []
    for raw in _list(v):
        row = _list(raw)
        if len(row) != 5:
            raise InvalidArgumentError("member row must have 5 items")
        state = _int(row[4])
        if state > MemberState.LEFT:
            raise InvalidArgumentError("unknown member state")
        rows.append(MemberRow(check_id(row[0], "node_id"), _addr(row[1]), _int(row[2]),
                              _int(row[3]), MemberState(state)))
    return tuple(rows)


def _digest(v: object) -> dict[str, tuple[int, int]]:
    if not isinstance(v, dict) or len(v) > _MAX_ITEMS:
        raise InvalidArgumentError("digest must be a bounded map")
    out: dict[str, tuple[int, int]] = {}
    for owner, gw in v.items():
        pair = _list(gw, 2)
        if len(pair) != 2:
            raise InvalidArgumentError("digest value must be [generation, watermark]")
        out[check_id(owner, "owner")] = (_int(pair[0]), _int(pair[1]))
    return out


def _deltas(v: object) -> tuple[OwnerDelta, ...]:
    out = []
    for raw in _list(v):
        d = _list(raw, 8)
        if len(d) != 8:
            raise InvalidArgumentError("owner delta must have 8 items")
        owner = check_id(d[0], "owner")
        entries = []
        last = 0
        for e in _list(d[5]):
            item = _list(e, 4)
            if len(item) != 4:
                raise InvalidArgumentError("delta entry must have 4 items")
            key, version, deleted, value = item
            version = _int(version)
            if version <= last:
                raise InvalidArgumentError("delta entries must ascend by version")
            last = version
            entries.append((key, version, deleted, validate_value(key, deleted, value)))
        manifest = None
        if d[6] is not None:
            pairs = []
            for m in _list(d[6]):
                pair = _list(m, 2)
                if len(pair) != 2 or not isinstance(pair[0], str):
                    raise InvalidArgumentError("manifest item must be [key, version]")
                pairs.append((pair[0], _int(pair[1])))
            manifest = tuple(pairs)
        out.append(OwnerDelta(owner, _int(d[1]), _int(d[2]), _int(d[3]), tuple(entries),
                              _bool(d[4]), manifest, _int(d[7])))
    return tuple(out)


def _want(raw: list[Any], n: int) -> None:
    if len(raw) != n:
        raise InvalidArgumentError(f"message must have {n} items")


def parse(raw: list[Any]) -> Message | None:
    """Parse a wire message. Returns None for an unknown tag; raises InvalidArgumentError for a
    known tag with a malformed body."""
    tag = raw[0]
    if tag == Tag.PING:
        _want(raw, 3)
        return Ping(_int(raw[1]), check_id(raw[2], "node_id"))
    if tag == Tag.ACK:
        _want(raw, 2)
        return Ack(_int(raw[1]))
    if tag == Tag.PING_REQ:
        _want(raw, 4)
        return PingReq(_int(raw[1]), check_id(raw[2], "node_id"), _addr(raw[3]))
    if tag == Tag.NACK:
        _want(raw, 2)
        return Nack(_int(raw[1]))
    if tag == Tag.ALIVE:
        _want(raw, 5)
        return Alive(check_id(raw[1], "node_id"), _addr(raw[2]), _int(raw[3]), _int(raw[4]))
    if tag in (Tag.SUSPECT, Tag.DEAD):
        _want(raw, 5)
        cls = Suspect if tag == Tag.SUSPECT else Dead
        return cls(check_id(raw[1], "node_id"), _int(raw[2]), _int(raw[3]),
                   check_id(raw[4], "node_id"))
    if tag == Tag.LEFT:
        _want(raw, 4)
        return Left(check_id(raw[1], "node_id"), _int(raw[2]), _int(raw[3]))
    if tag == Tag.WRITE:
        _want(raw, 8)
        value = validate_value(raw[3], raw[5], raw[6])
        version = _int(raw[4])
        sup = tuple(_int(v) for v in _list(raw[7], 64))
        if any(v >= version for v in sup):
            raise InvalidArgumentError("a write can only supersede older versions")
        return WriteMsg(Write(check_id(raw[1], "owner"), _int(raw[2]), raw[3], version,
                              raw[5], value, sup))
    if tag == Tag.BEACON:
        _want(raw, 4)
        return Beacon(check_id(raw[1], "owner"), _int(raw[2]), _int(raw[3]))
    if tag == Tag.SYNC:
        _want(raw, 6)
        h = raw[3]
        if not isinstance(h, bytes) or len(h) > 64:
            raise InvalidArgumentError("member hash must be bytes")
        return Sync(_int(raw[1]), _digest(raw[2]), h, _members(raw[4]), _bool(raw[5]))
    if tag == Tag.SYNC_ACK:
        _want(raw, 6)
        return SyncAck(_int(raw[1]), _deltas(raw[2]),
                       None if raw[3] is None else _digest(raw[3]), _members(raw[4]),
                       _bool(raw[5]))
    if tag == Tag.SYNC_ACK2:
        _want(raw, 4)
        return SyncAck2(_int(raw[1]), _deltas(raw[2]), _members(raw[3]))
    if tag == Tag.REQUEST:
        _want(raw, 4)
        if raw[2] not in _OPS:
            raise InvalidArgumentError("unknown request op")
        return Request(_int(raw[1]), raw[2], check_id(raw[3]))
    if tag == Tag.RESPONSE:
        _want(raw, 4)
        detail = raw[3]
        if not isinstance(detail, str) or len(detail) > 1024:
            raise InvalidArgumentError("response detail must be a short string")
        return Response(_int(raw[1]), _bool(raw[2]), detail)
    return None
