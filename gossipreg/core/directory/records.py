"""Directory keys and the validated wire form of their values.

Rules: keys are ``agent/<id>`` (the record, written by the hosting node), ``hb/<id>`` (heartbeat
counter and wall time, by the same node), ``status/<id>`` (a status write ``(status, hlc stamp,
cause)``, by any node under its own ownership), ``load/<id>`` (``[active_tasks,
max_concurrency]``, by the hosting node), ``vec/<id>`` (the record's search vectors ``[model
tag, [int8 bytes, ...]]``, by the record's owner, after the record). Every value that enters
the replica, from the caller or from the network, passes through the checks here first, so a
hostile value never lands, except vectors that fail their checks: stored as
:class:`BadVectors`, relayed as they came and never used (a hostile owner leaves no hole in
its versions). A first-release peer knows only the first three families.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.replica.hlc import Stamp
from gossipreg.core.search.vectors import VectorError, VectorSet, vector_set_from_wire
from gossipreg.core.types import ID_MAX_LEN, AgentLoad, AgentRecord, AgentStatus, check_id
from gossipreg.core.wire.codec import PACKER_BUFFER
from gossipreg.core.wire.fields import NO_FORM

if TYPE_CHECKING:
    from gossipreg.core.directory.cards import CardInfo
    from gossipreg.core.directory.cards import CardJudge as CardJudge  # (node.py names it)

__all__ = [
    "AGENT", "HB", "LIMITS", "LOAD", "RECORD_VALUES", "STATUS", "TOMBSTONE_REASONS", "VEC",
    "BadVectors", "Heartbeat", "Opaque", "RecordValues", "StatusWrite", "check_id",
    "heartbeat_from_value", "judged", "load_from_value", "make_record", "parse_key",
    "record_from_value", "record_to_value", "split_key", "status_from_value", "to_wire",
    "validate_value", "vectors_from_value", "wire_size",
]

AGENT = "agent/"
HB = "hb/"
STATUS = "status/"
LOAD = "load/"
VEC = "vec/"
_PREFIXES = (AGENT, HB, STATUS)  # the first release's families
_KNOWN = (*_PREFIXES, LOAD, VEC)
_PREFIX_OF = {p: p for p in _KNOWN}
_MAX_I64 = 2**63 - 1
_pack: Callable[[Any], bytes] = msgpack.Packer(buf_size=PACKER_BUFFER).pack  # see wire.codec
# Why a key was deleted, carried by its tombstone: a record deleted by its owner's call or by
# its heartbeat judge; a status write deleted because its agent is gone (not a withdrawal).
TOMBSTONE_REASONS = frozenset({"deregistered", "heartbeat_expired", "gone"})


@dataclass(frozen=True, slots=True)
class _Limits:
    id_len: int = ID_MAX_LEN
    name_len: int = 255
    capabilities: int = 256
    capability_len: int = 1024
    description_len: int = 8192
    tags: int = 64
    tag_len: int = 255
    cause_len: int = 64


LIMITS = _Limits()
_new = tuple.__new__  # a named tuple without its Python-level constructor
_STATUS_VALUES = {s.value: s for s in AgentStatus}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The value of an ``hb/`` key: how many heartbeats, and the wall time of the last."""

    count: int
    wall_ms: int


@dataclass(frozen=True, slots=True)
class StatusWrite:
    """The value of a ``status/`` key: a status declared by one node, with its HLC stamp."""

    status: AgentStatus
    stamp: Stamp
    cause: str


def _str(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidArgumentError(f"{what} is longer than {max_len} characters")
    return value


def _str_list(value: object, what: str, max_items: int, max_len: int) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidArgumentError(f"{what} must be a list of strings")
    if len(value) > max_items:
        raise InvalidArgumentError(f"{what} has more than {max_items} items")
    out = tuple(value)
    for v in out:
        if type(v) is not str or len(v) > max_len:
            _str(v, f"{what} item", max_len)  # raises, unless a str subclass
    return out


def _int(value: object, what: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise InvalidArgumentError(f"{what} must be an integer in [{lo}, {hi}]")
    return value


def _float(value: object, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be a number")
    if not math.isfinite(value) or value < 0:
        raise InvalidArgumentError(f"{what} must be a finite non-negative number")
    return float(value)


def _build(agent_id: object, name: object, runtime_id: object, capabilities: object,
           description: object, tags: object, card: tuple[str | None, CardInfo | None],
           max_concurrency: object, memory_limit_mb: object, budget_limit_usd: object,
           registered_at: object, judge: CardJudge | None = None) -> AgentRecord:
    # Each check's usual case inline (a registration's cost is mostly calls); the checking
    # function otherwise, which raises or returns the value.
    text, info = card
    if type(name) is not str or len(name) > LIMITS.name_len:
        name = _str(name, "name", LIMITS.name_len)
    if type(description) is not str or len(description) > LIMITS.description_len:
        description = _str(description, "description", LIMITS.description_len)
    if type(max_concurrency) is not int or not 1 <= max_concurrency <= 2**31:
        max_concurrency = _int(max_concurrency, "max_concurrency", 1, 2**31)
    if type(memory_limit_mb) is not int or not 0 <= memory_limit_mb <= 2**31:
        memory_limit_mb = _int(memory_limit_mb, "memory_limit_mb", 0, 2**31)
    if type(budget_limit_usd) is not float or not 0.0 <= budget_limit_usd < math.inf:
        budget_limit_usd = _float(budget_limit_usd, "budget_limit_usd")
    if type(registered_at) is not float or not 0.0 <= registered_at < math.inf:
        registered_at = _float(registered_at, "registered_at")
    return _new(AgentRecord, (
        check_id(agent_id), name,
        sys.intern(check_id(runtime_id, "runtime_id")),  # one copy per runtime, not per agent
        _str_list(capabilities, "capabilities", LIMITS.capabilities, LIMITS.capability_len),
        description,
        () if tags == () else _str_list(tags, "tags", LIMITS.tags, LIMITS.tag_len),
        text, max_concurrency, memory_limit_mb, budget_limit_usd, registered_at,
        info.skills if info is not None else (),
        info.endpoints if info is not None else (),
        info.provider if info is not None else None,
        info.version if info is not None else "",
        "unsigned" if info is None or not info.signed else _cards().card_verdict(text, info, judge),
    ))


def _cards() -> Any:
    """The cards' modules (parsing, verdicts), imported at the first record with a card: a
    node whose agents have none never holds them."""
    from gossipreg.core.directory import card_verdicts
    return card_verdicts


def judged(r: AgentRecord, judge: CardJudge | None) -> AgentRecord:
    """``r`` with its card judged by ``judge`` (a caller's record: made without one)."""
    return r if judge is None or r.card_json is None else _cards().judged(r, judge)


def make_record(
    agent_id: str,
    name: str | None,
    runtime_id: str,
    capabilities: Any = None,
    *,
    description: str | None = None,
    tags: Any = (),
    card: Any = None,
    max_concurrency: int = 10,
    memory_limit_mb: int = 512,
    budget_limit_usd: float = 1.0,
    registered_at: float = 0.0,
) -> AgentRecord:
    """Build a validated :class:`AgentRecord`; raises :class:`InvalidArgumentError` on bad input
    (:class:`CardTooLargeError` for a card over :data:`CARD_MAX_BYTES`).

    ``card`` is any form :func:`~gossipreg.core.directory.cards.card_to_dict` accepts, its
    JSON text, or a :class:`~gossipreg.core.directory.cards.Card` converted already.
    What the caller leaves out comes from the card: ``capabilities`` (None), ``description``
    and ``name`` (None or empty; the name falls back to the id). A2A skill tags are added to
    ``tags``."""
    parts = (None, None) if card is None else _cards().card_parts(card)
    info = parts[1]
    if capabilities is None:
        capabilities = [c for c in info.capabilities
                        if len(c) <= LIMITS.capability_len] if info is not None else []
    if not description:
        description = info.description if info is not None else ""
    if not name:
        name = (info.name if info is not None else "") or agent_id
    if info is not None and info.skills:
        if isinstance(tags, str) or not isinstance(tags, list | tuple):
            raise InvalidArgumentError("tags must be a list of strings")
        tags = list(dict.fromkeys([*tags, *(t for sk in info.skills for t in sk.tags)]))
    return _build(agent_id, name, runtime_id, capabilities, description, tags, parts,
                  max_concurrency, memory_limit_mb, budget_limit_usd, registered_at)


def record_to_value(r: AgentRecord) -> list[Any]:
    """The wire form: 11 items; the card travels as its JSON text (skills, endpoints, provider
    and version are derived from it again by the receiver)."""
    return [
        r.agent_id, r.name, r.runtime_id, list(r.capabilities), r.description, list(r.tags),
        r.card_json, r.max_concurrency, r.memory_limit_mb, r.budget_limit_usd, r.registered_at,
    ]


def record_from_value(value: object, judge: CardJudge | None = None) -> AgentRecord:
    """A record from the network, checked like a caller's (nothing derived but the card's
    facts, and the ``judge``'s verdict on its signatures). A card may come as JSON text, or as
    a dict from a node of the previous release."""
    if not isinstance(value, list) or len(value) != 11:
        raise InvalidArgumentError("agent record must be an 11-item list")
    card = value[6]
    if card is not None and not isinstance(card, str | dict):
        raise InvalidArgumentError("card must be JSON text or None")
    parts = (None, None) if card is None else _cards().wire_card_parts(card)
    return _build(value[0], value[1], value[2], value[3], value[4], value[5], parts,
                  value[7], value[8], value[9], value[10], judge)


def heartbeat_from_value(value: object) -> Heartbeat:
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidArgumentError("heartbeat must be a 2-item list")
    return Heartbeat(_int(value[0], "heartbeat count"), _int(value[1], "heartbeat time"))


def load_from_value(value: object) -> AgentLoad:
    """``[active_tasks, max_concurrency]``: integers, the second at least 1."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidArgumentError("load must be a 2-item list [active_tasks, max_concurrency]")
    return AgentLoad(_int(value[0], "active_tasks", 0, 2**31),
                     _int(value[1], "max_concurrency", 1, 2**31))


def status_from_value(value: object) -> StatusWrite:
    if not isinstance(value, list) or len(value) != 3:
        raise InvalidArgumentError("status write must be a 3-item list")
    status = _STATUS_VALUES.get(value[0]) if isinstance(value[0], str) else None
    if status is None:
        raise InvalidArgumentError("unknown status")
    cause = value[2]
    if type(cause) is not str or len(cause) > LIMITS.cause_len:
        cause = _str(cause, "cause", LIMITS.cause_len)
    return StatusWrite(status, Stamp.from_wire(value[1]), cause)


def parse_key(key: object) -> tuple[str, str]:
    """Split a key into ``(prefix, agent_id)``; raises on an unknown prefix or a bad id."""
    if not isinstance(key, str):
        raise InvalidArgumentError("key must be a string")
    i = key.find("/") + 1  # each prefix ends at the key's first "/"
    prefix = _PREFIX_OF.get(key[:i]) if i else None
    if prefix is None:
        raise InvalidArgumentError("unknown key prefix")
    return prefix, check_id(key[i:])


def split_key(key: str) -> tuple[str, str]:
    """``(prefix, agent_id)`` of a key already validated by :func:`parse_key`."""
    i = key.index("/") + 1
    return key[:i], key[i:]


@dataclass(frozen=True, slots=True)
class BadVectors:
    """The value of a ``vec/`` key that failed the vector checks: kept and relayed as it came,
    never used; ``reason`` is the check's label (``type``, ``count``, ``dims``, ...)."""

    raw: Any
    reason: str


def vectors_from_value(value: object) -> VectorSet | BadVectors:
    """A ``vec/`` value from the network: checked vectors, or :class:`BadVectors`."""
    try:
        return vector_set_from_wire(value)
    except VectorError as e:
        return BadVectors(value, e.reason)


@dataclass(frozen=True, slots=True)
class Opaque:
    """The value of a key family this release does not know (a later release's): stored and
    relayed as it came, so replicas stay equal, and shown nowhere."""

    raw: Any


_FAMILY = re.compile(r"[a-z][a-z0-9_]{0,15}/")


def validate_value(key: object, deleted: object, value: object,
                   judge: CardJudge | None = None) -> Any:
    """Check a (key, deleted, value) triple from the network and return the value to store: an
    :class:`AgentRecord`, :class:`Heartbeat`, :class:`StatusWrite`, ``AgentLoad`` or vectors
    (parsed once; the view reads the replica's objects), or :class:`Opaque` under a key family
    a later release added.
    Raises InvalidArgumentError."""
    # (What parse_key checks, inline: every received write comes here. A known prefix is the
    # key up to its first "/", as ``startswith(_KNOWN)`` would find it.)
    if type(key) is not str:
        raise InvalidArgumentError("key must be a string")
    i = key.find("/") + 1
    prefix = _PREFIX_OF.get(key[:i])
    if prefix is None:
        if m := _FAMILY.match(key):
            check_id(key[m.end():])
            if type(deleted) is not bool:
                raise InvalidArgumentError("deleted flag must be a bool")
            if not deleted:
                return Opaque(value)
            return None if value is None else _str(value, "reason", 64)
        raise InvalidArgumentError("unknown key prefix")
    agent_id = key[i:]
    if not 0 < len(agent_id) <= ID_MAX_LEN or not agent_id.isprintable():
        check_id(agent_id)  # raises
    if deleted is not False:
        if deleted is not True:
            raise InvalidArgumentError("deleted flag must be a bool")
        if value is not None and (type(value) is not str or value not in TOMBSTONE_REASONS):
            raise InvalidArgumentError("a tombstone carries no value but a known reason")
        return value
    if prefix == HB:  # the most frequent write: its usual shape inline
        if type(value) is list and len(value) == 2:
            count, wall_ms = value
            if (type(count) is int and type(wall_ms) is int and 0 <= count <= _MAX_I64
                    and 0 <= wall_ms <= _MAX_I64):
                return Heartbeat(count, wall_ms)
        return heartbeat_from_value(value)
    if prefix == AGENT:
        record = record_from_value(value, judge)
        if record.agent_id != agent_id:
            raise InvalidArgumentError("record id does not match its key")
        return record
    if prefix == LOAD:
        return load_from_value(value)
    if prefix == VEC:
        return vectors_from_value(value)
    return status_from_value(value)


class RecordValues:
    """The directory's value codec for the wire: stored values out, checked values in (a
    record's card judged by ``cards``, the node's publisher keys)."""

    def __init__(self, cards: CardJudge | None = None) -> None:
        self.cards = cards

    def to_wire(self, value: Any) -> Any:
        return to_wire(value)

    def from_wire(self, key: object, deleted: object, raw: object) -> Any:
        return validate_value(key, deleted, raw, self.cards)

    def first_release(self, key: str, value: Any) -> Any:
        # The first release knows these three prefixes and values of exactly these shapes.
        return to_wire(value) if key.startswith(_PREFIXES) else NO_FORM

    def first_release_unchanged(self, key: str) -> bool:
        return key.startswith(_PREFIXES)


def wire_size(value: Any) -> int:
    """The packed size of a stored value as it travels: what the replica's byte budgets count."""
    return len(_pack(to_wire(value)))


def to_wire(value: Any) -> Any:
    """The msgpack-able form of a stored value (values travel as lists)."""
    t = type(value)
    if t is Opaque or t is BadVectors:
        return value.raw
    if t is VectorSet:
        return value.to_wire()
    if t is Heartbeat:
        return [value.count, value.wall_ms]
    if t is AgentRecord:
        return record_to_value(value)
    if t is StatusWrite:
        return [value.status._value_, value.stamp.to_wire(), value.cause]  # (not .value: slow)
    if t is AgentLoad:
        return [value.active_tasks, value.max_concurrency]
    return value


RECORD_VALUES = RecordValues()
