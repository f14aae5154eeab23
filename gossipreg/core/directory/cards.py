"""Agent cards in every form users have, reduced to one JSON object and the facts a record keeps.

Rules:
- A card enters as a JSON-like dict, an ``a2a-sdk`` object (1.x protobuf message, serialized
  with ``google.protobuf.json_format``; 0.x pydantic model, ``model_dump(by_alias=True,
  exclude_none=True)``), or a kaizen-style card object (a dataclass, or a class defining
  ``to_dict``). Any other object is an :class:`InvalidArgumentError`; it is never read with
  ``vars()``.
- A dict is an A2A card when its ``capabilities`` is an object, or when it has no kaizen keys
  (``capability``, a string/list ``capabilities``, ``primary_capabilities``) and carries an A2A
  key (``skills``, ``supportedInterfaces``, ``url``, ``preferredTransport``, ...). A dict with
  kaizen keys is a kaizen ``_a2a_card``. Anything else is kept, and only its ``name``,
  ``description`` and ``version`` strings are read.
- Endpoints come from ``supportedInterfaces`` (A2A 1.0); without it, from ``url`` +
  ``preferredTransport`` (default JSONRPC) + ``additionalInterfaces`` with ``protocolVersion``
  (A2A 0.3), as the SDK itself maps the older shape. A kaizen card's ``url`` (or ``endpoint``)
  is its one endpoint, with ``transport``/``preferredTransport`` (default JSONRPC) and
  ``protocolVersion`` when it says them.
- The card travels as compact JSON text, at most :data:`CARD_MAX_BYTES` UTF-8 bytes, so a record
  with a full card fits one gossip packet (``gossip_budget``, 16 KiB by default) with room for
  its other fields. Every parse error names the offending field (``card.skills[1].tags``).
- Pure: no I/O; ``google.protobuf`` is imported only for an object that is a protobuf message.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import json.encoder
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from gossipreg.core.errors import CardTooLargeError, InvalidArgumentError
from gossipreg.core.types import Endpoint, Provider, Skill

__all__ = [
    "CARD_MAX_BYTES",
    "Card",
    "CardInfo",
    "CardJudge",
    "CardTooLargeError",
    "Endpoint",
    "Provider",
    "Skill",
    "card_json",
    "card_of",
    "card_to_dict",
    "check_json",
    "encode_card",
    "parse_card",
]

CARD_MAX_BYTES = 8192
_MAX_DEPTH = 16

_A2A_KEYS = frozenset({
    "skills", "supportedInterfaces", "url", "preferredTransport", "additionalInterfaces",
    "protocolVersion", "defaultInputModes", "defaultOutputModes", "securitySchemes", "provider",
})


# A node's verdict on a signed card's JSON text: "true" or "false" (its publisher keys).
CardJudge = Callable[[str], str]


# A named tuple without its Python-level constructor (one or two per registration).
_new = tuple.__new__
# Keys of a kaizen card read besides a list of ``capabilities`` (see _kaizen_caps).
_KAIZEN_MORE = frozenset({"capability", "primary_capabilities", "secondary_capabilities"})


class CardInfo(NamedTuple):
    """What a record derives from its card. ``kind`` is ``"a2a"``, ``"kaizen"`` or
    ``"other"``; ``capabilities`` are kaizen's capability strings (A2A cards: each skill's
    name, description and tags)."""

    kind: str
    name: str
    description: str
    version: str
    provider: Provider | None
    skills: tuple[Skill, ...]
    endpoints: tuple[Endpoint, ...]
    capabilities: tuple[str, ...]
    signed: bool = False  # an A2A card with ``signatures`` (JWS; verified where keys are)


def _is_protobuf(obj: object) -> bool:
    mod = sys.modules.get("google.protobuf.message")
    return mod is not None and isinstance(obj, mod.Message)


def _is_pydantic(obj: object) -> bool:
    mod = sys.modules.get("pydantic")
    return mod is not None and isinstance(obj, mod.BaseModel)


def card_to_dict(card: object) -> dict[str, Any] | None:
    """The JSON object of ``card`` in any accepted form (see the module rules); ``None`` stays
    ``None``. Raises :class:`InvalidArgumentError` for an object of an unknown kind."""
    if card is None:
        return None
    if isinstance(card, dict):
        return card
    out: object
    if _is_protobuf(card):
        json_format = importlib.import_module("google.protobuf.json_format")
        out = json_format.MessageToDict(card)
    elif _is_pydantic(card):
        out = card.model_dump(by_alias=True, exclude_none=True, mode="json")  # type: ignore[attr-defined]
    elif callable(getattr(type(card), "to_dict", None)):
        out = card.to_dict()  # type: ignore[attr-defined]
    elif dataclasses.is_dataclass(card) and not isinstance(card, type):
        out = dataclasses.asdict(card)
    else:
        raise InvalidArgumentError(
            f"card must be a dict, an a2a-sdk AgentCard, a pydantic model or an object with "
            f"to_dict(), not {type(card).__name__}")
    if not isinstance(out, dict):
        raise InvalidArgumentError(f"card of type {type(card).__name__} did not give a dict")
    return out


def check_json(value: object, path: str = "card", depth: int = 0) -> None:
    """Plain JSON only (kaizen cards may hold enums or objects: those are named, not dumped)."""
    if depth > _MAX_DEPTH:
        raise InvalidArgumentError(f"{path} is nested more than {_MAX_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidArgumentError(f"{path} has a key that is not a string")
            check_json(v, f"{path}.{k}", depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_json(v, f"{path}[{i}]", depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{path} must be a finite number")
    elif value is not None and not isinstance(value, str | int | bool):
        raise InvalidArgumentError(f"{path} holds an unsupported {type(value).__name__}")


class Card(NamedTuple):
    """A card converted once (:func:`card_of`): its compact JSON text (what the record keeps and
    the wire carries) and its facts."""

    text: str
    info: CardInfo


class _NotPlain(Exception):
    """A value the JSON encoder cannot write as it is: the card takes the general path."""


def _not_plain(value: object) -> Any:
    raise _NotPlain


def _encoder() -> Callable[[object], str]:
    """One encoder for every card (json.dumps with options builds a new one per call); the C
    one itself where there is one (no circular check: a cycle ends in RecursionError)."""
    enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                           default=_not_plain)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return enc.encode
    c_encode = make(None, _not_plain, json.encoder.encode_basestring, None, ":", ",", False,
                    False, False)
    return lambda o: "".join(c_encode(o, 0))


_encode = _encoder()


def encode_card(d: dict[str, Any]) -> str | None:
    """The compact JSON text of a card dict as :func:`card_of` writes it, or None when a value
    is not plain JSON as it is (no size or nesting check: the caller's)."""
    try:
        return _encode(d)
    except (_NotPlain, ValueError, TypeError, RecursionError):
        return None


def card_of(card: object) -> Card | None:
    """``card`` in any accepted form (see the module rules) converted once: its JSON text,
    checked (plain JSON, nesting, :data:`CARD_MAX_BYTES`), and its facts. Values that are not
    JSON (kaizen cards may hold enums) become strings, as :func:`agent_card` makes them. Raises
    :class:`InvalidArgumentError` naming the field, :class:`CardTooLargeError` over the limit."""
    d = card_to_dict(card)
    if d is None:
        return None
    try:
        text = _encode(d)
    except (_NotPlain, ValueError, TypeError, RecursionError):
        # Not plain JSON as it is: the general path (values as strings, then every check
        # with the field named).
        d = json.loads(json.dumps(d, default=str))
        return Card(card_json(d), parse_card(d))
    if len(text) > CARD_MAX_BYTES // 4:
        size = len(text.encode())
        if size > CARD_MAX_BYTES:
            raise CardTooLargeError(
                f"card is {size} bytes of JSON, over the limit of {CARD_MAX_BYTES} bytes")
    if text.count("{") + text.count("[") > _MAX_DEPTH:  # may be nested too deep: look
        check_json(d)
    return _new(Card, (text, parse_card(d)))


def card_json(card: dict[str, Any]) -> str:
    """The compact JSON text of a card, checked for plain JSON values and the byte limit."""
    check_json(card, "card", 0)
    text = json.dumps(card, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if size > CARD_MAX_BYTES:
        raise CardTooLargeError(
            f"card is {size} bytes of JSON, over the limit of {CARD_MAX_BYTES} bytes")
    return text


def _plain(v: str) -> str:
    """A string as JSON text carries it: a ``str`` subclass (a string enum) as its value."""
    return v if type(v) is str else str.__str__(v)


def _text(d: dict[str, Any], key: str, path: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise InvalidArgumentError(f"{path}.{key} must be a string, not {type(v).__name__}")
    return _plain(v)


def _texts(d: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise InvalidArgumentError(f"{path}.{key} must be a list of strings")
    return tuple(_plain(x) for x in v)


def _objects(d: dict[str, Any], key: str, path: str) -> Sequence[dict[str, Any]]:
    v = d.get(key)
    if v is None:
        return ()
    if not isinstance(v, list | tuple) or not all(isinstance(x, dict) for x in v):
        raise InvalidArgumentError(f"{path}.{key} must be a list of objects")
    return v


def _kind(d: dict[str, Any]) -> str:
    caps = d.get("capabilities")
    if isinstance(caps, dict):
        return "a2a"
    if ("capability" in d or isinstance(caps, str | list | tuple)
            or "primary_capabilities" in d):
        return "kaizen"
    return "a2a" if not _A2A_KEYS.isdisjoint(d) else "other"


def _skills(d: dict[str, Any]) -> tuple[Skill, ...]:
    out = []
    for i, s in enumerate(_objects(d, "skills", "card")):
        p = f"card.skills[{i}]"
        out.append(Skill(_text(s, "id", p), _text(s, "name", p), _text(s, "description", p),
                         _texts(s, "tags", p), _texts(s, "examples", p)))
    return tuple(out)


def _endpoints(d: dict[str, Any]) -> tuple[Endpoint, ...]:
    if "supportedInterfaces" in d:
        out = []
        for i, e in enumerate(_objects(d, "supportedInterfaces", "card")):
            p = f"card.supportedInterfaces[{i}]"
            out.append(Endpoint(_text(e, "url", p), _text(e, "protocolBinding", p),
                                _text(e, "protocolVersion", p)))
        return tuple(out)
    url = _text(d, "url", "card")
    if not url:
        return ()
    version = _text(d, "protocolVersion", "card")
    out = [Endpoint(url, _text(d, "preferredTransport", "card") or "JSONRPC", version)]
    for i, e in enumerate(_objects(d, "additionalInterfaces", "card")):
        p = f"card.additionalInterfaces[{i}]"
        ep = Endpoint(_text(e, "url", p), _text(e, "transport", p), version)
        if ep not in out:
            out.append(ep)
    return tuple(out)


def _kaizen_endpoints(d: dict[str, Any]) -> tuple[Endpoint, ...]:
    if "url" not in d and "endpoint" not in d:
        return ()
    url = _text(d, "url", "card") or _text(d, "endpoint", "card")
    if not url:
        return ()
    binding = _text(d, "transport", "card") or _text(d, "preferredTransport", "card")
    return (Endpoint(url, binding or "JSONRPC", _text(d, "protocolVersion", "card")),)


def _provider(d: dict[str, Any]) -> Provider | None:
    p = d.get("provider")
    if p is None:
        return None
    if not isinstance(p, dict):
        raise InvalidArgumentError("card.provider must be an object")
    return Provider(_text(p, "organization", "card.provider"), _text(p, "url", "card.provider"))


def _kaizen_caps(d: dict[str, Any]) -> tuple[str, ...]:
    """kaizen's reading: ``capability`` (a string) and ``capabilities`` (a string or list); a
    kaizen ``A2AAgentCard.to_dict()``: the names of its primary and secondary capabilities."""
    more = d.get("capabilities")
    if type(more) is list and _KAIZEN_MORE.isdisjoint(d):  # the usual card: a list
        for c in more:
            if type(c) is not str:
                break
        else:
            return tuple(dict.fromkeys(more))
    caps: list[str] = []
    one = d.get("capability")
    if one is not None:
        if not isinstance(one, str):
            raise InvalidArgumentError(f"capability must be a string, not {type(one).__name__}")
        caps.append(_plain(one))
    if isinstance(more, str):
        caps.append(_plain(more))
    elif isinstance(more, list | tuple):
        for c in more:
            if type(c) is not str:
                if not isinstance(c, str):
                    raise InvalidArgumentError(
                        f"capability must be a string, not {type(c).__name__}: {c!r}")
                c = _plain(c)
            caps.append(c)
    for key in ("primary_capabilities", "secondary_capabilities"):
        if key not in d:
            continue
        for i, c in enumerate(_objects(d, key, "card")):
            name = _text(c, "name", f"card.{key}[{i}]")
            if name:
                caps.append(name)
    return tuple(dict.fromkeys(caps))


def parse_card(d: dict[str, Any]) -> CardInfo:
    """The facts of a card's JSON object; raises :class:`InvalidArgumentError` naming the
    field that is malformed."""
    kind = _kind(d)
    if "name" in d or "description" in d or "version" in d or "agent_name" in d:
        name = _text(d, "name", "card") or (_text(d, "agent_name", "card") if kind == "kaizen"
                                             else "")
        description = _text(d, "description", "card")
        version = _text(d, "version", "card")
    else:  # a bare kaizen card: its capabilities alone
        name = description = version = ""
    if kind == "kaizen":
        return _new(CardInfo, (kind, name, description, version, None, (),
                               _kaizen_endpoints(d), _kaizen_caps(d), False))
    if kind == "other":
        return CardInfo(kind, name, description, version, None, (), (), ())
    caps = d.get("capabilities")
    if caps is not None and not isinstance(caps, dict):
        raise InvalidArgumentError("card.capabilities must be an object")
    skills = _skills(d)
    # As before this module: a skill's name, description and tags are capability strings (the
    # substring queries kaizen users know); the tags are also the agent's tags.
    capabilities = tuple(dict.fromkeys(
        t for s in skills for t in (s.name, s.description, *s.tags) if t))
    sigs = d.get("signatures")
    return CardInfo(kind, name, description, version, _provider(d), skills, _endpoints(d),
                    capabilities, isinstance(sigs, list) and bool(sigs))
