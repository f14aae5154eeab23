"""A card's text and facts from any accepted form, and this node's verdict on its signatures.

Rules:
- JSON text is checked for size, JSON and shape (:func:`card_from_text`); every other form goes
  through :func:`~gossipreg.core.directory.cards.card_to_dict`; a
  :class:`~gossipreg.core.directory.cards.Card` (``card_of``) is taken as it is, converted once.
- ``card_verified`` is "unsigned" for a card without A2A ``signatures``; else the node's
  :data:`~gossipreg.core.directory.cards.CardJudge` says "true" or "false" by its own publisher
  keys ("false" with none). It is derived on every node, never carried on the wire.
"""

from __future__ import annotations

import json
from typing import Any

from gossipreg.core.directory.cards import (
    CARD_MAX_BYTES,
    Card,
    CardInfo,
    CardJudge,
    CardTooLargeError,
    card_json,
    card_to_dict,
    check_json,
    parse_card,
)
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentRecord

__all__ = ["card_from_text", "card_parts", "card_verdict", "judged", "wire_card_parts"]


def card_from_text(text: str) -> tuple[str, CardInfo]:
    """A card given as JSON text: the text and its derived facts (size, JSON and shape checked)."""
    if len(text) > CARD_MAX_BYTES or len(text.encode()) > CARD_MAX_BYTES:
        raise CardTooLargeError(f"card is over the limit of {CARD_MAX_BYTES} bytes of JSON")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidArgumentError("card must be valid JSON") from None
    if not isinstance(d, dict):
        raise InvalidArgumentError("card must be a JSON object")
    check_json(d)  # plain JSON values only (no NaN), nesting bounded
    return text, parse_card(d)


def wire_card_parts(card: str | dict[str, Any]) -> tuple[str, CardInfo]:
    """A card from the network: its JSON text, or a dict from a node of the previous release."""
    return card_from_text(card) if isinstance(card, str) else (card_json(card), parse_card(card))


def card_parts(card: object) -> tuple[str | None, CardInfo | None]:
    """``(JSON text, derived facts)`` of a card in any accepted form (JSON text included)."""
    if card is None:
        return None, None
    if type(card) is Card:  # converted once already (cards.card_of)
        return card
    if isinstance(card, str):
        return card_from_text(card)
    d = card_to_dict(card)
    if d is None:
        return None, None
    return card_json(d), parse_card(d)


def card_verdict(text: str | None, info: CardInfo | None, judge: CardJudge | None) -> str:
    """``card_verified`` of a record: "unsigned" without signatures; else the node's judge's
    verdict, "false" when it has no publisher keys (nothing it could verify against)."""
    if text is None or info is None or not info.signed:
        return "unsigned"
    return judge(text) if judge is not None else "false"


def judged(r: AgentRecord, judge: CardJudge | None) -> AgentRecord:
    """``r`` with its card judged by ``judge`` (a caller's record: made without one)."""
    if judge is None or r.card_json is None:
        return r
    return r._replace(card_verified=card_verdict(
        r.card_json, card_from_text(r.card_json)[1], judge))
