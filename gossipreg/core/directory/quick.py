"""The usual kaizen registration's record, built in one step.

kaizen users register objects whose card is a small dict: a list of capability strings, and
perhaps a name, description and version (``{"capabilities": ["code review", ...]}``). The
general path (:func:`~gossipreg.core.directory.cards.card_of`, then
:func:`~gossipreg.core.directory.records.make_record`) reads such a card through the parser
every card form needs, makes its :class:`~gossipreg.core.directory.cards.CardInfo`, then checks
every field again: about 4 us of a registration whose whole budget (kaizen's own call) is about
5. :func:`quick_record` makes the same record for that shape alone, with the same checks inline,
and answers None for anything else — any other key, any value not exactly of its usual type,
any value at or past a limit — so the general path, which raises the usual errors, takes it.

Rule: for every input it accepts, the record equals the general path's field for field (the
tests compare them over generated cards).
"""

from __future__ import annotations

import json.encoder
import math
import sys
from collections.abc import Callable
from typing import Any

from gossipreg.core.directory.cards import CARD_MAX_BYTES, encode_card
from gossipreg.core.types import ID_MAX_LEN, AgentRecord

__all__ = ["quick_record"]

_new = tuple.__new__  # a named tuple without its Python-level constructor
_TEXT_KEYS = ("name", "description", "version")  # strings read besides the capabilities
_MAX_CAPS, _MAX_CAP_LEN = 256, 1024  # records.LIMITS (not imported: records imports cards)
_MAX_NAME, _MAX_DESCRIPTION = 255, 8192
_SHORT = _MAX_CAP_LEN  # a card text this short holds no capability over the limit
_INF = math.inf
# Runtime ids already checked and interned (a few per process; bounded all the same).
_runtimes: dict[str, str] = {}
_quote: Callable[[str], str] = json.encoder.encode_basestring  # what card_of's encoder uses


def _runtime(runtime_id: str) -> str | None:
    """A runtime id not met before: checked, interned and kept (None: not a valid id)."""
    if not 0 < len(runtime_id) <= ID_MAX_LEN or not runtime_id.isprintable():
        return None
    if len(_runtimes) >= 1024:
        _runtimes.clear()
    rt = _runtimes[runtime_id] = sys.intern(runtime_id)
    return rt


def quick_record(d: dict[str, Any], agent_id: object, name: object, description: object,
                 runtime_id: object, max_concurrency: object, memory_limit_mb: object,
                 budget_limit_usd: object, registered_at: float) -> AgentRecord | None:
    """The record of an agent whose card is ``d`` (a plain kaizen card: see the module
    docstring) registered with no explicit capabilities, tags or card; ``name`` and
    ``description`` are the agent object's own (falsy: none). None when the general path
    must decide (it builds the same record, or raises)."""
    caps = d.get("capabilities")
    if type(caps) is not list or len(caps) > _MAX_CAPS:
        return None
    for c in caps:
        if type(c) is not str:
            return None
    if len(d) == 1:  # the text card_of writes (its encoder's escaping; no encoder needed)
        text = f'{{"capabilities":[{",".join(map(_quote, caps))}]}}'
    else:
        n_text = len(d) - 1
        for k in _TEXT_KEYS:
            v = d.get(k)
            if v is not None:
                if type(v) is not str:
                    return None
                n_text -= 1
        if n_text:  # a key this shape does not have (kaizen's "capability", a URL, ...)
            return None
        found = encode_card(d)
        if found is None:
            return None
        text = found
    if len(text) > _SHORT:  # a capability may be over its limit; the card over its own
        if len(text) > CARD_MAX_BYTES // 4:  # (the general path measures its bytes)
            return None
        for c in caps:
            if len(c) > _MAX_CAP_LEN:
                return None
    if (type(agent_id) is not str or not 0 < len(agent_id) <= ID_MAX_LEN
            or not agent_id.isprintable() or type(runtime_id) is not str):
        return None
    rt = _runtimes.get(runtime_id)
    if rt is None and (rt := _runtime(runtime_id)) is None:
        return None
    if not name:
        name = d.get("name") or agent_id
    if not description:
        description = d.get("description") or ""
    if (type(name) is not str or len(name) > _MAX_NAME or type(description) is not str
            or len(description) > _MAX_DESCRIPTION
            or type(max_concurrency) is not int or not 1 <= max_concurrency <= 2**31
            or type(memory_limit_mb) is not int or not 0 <= memory_limit_mb <= 2**31
            or type(budget_limit_usd) is not float or not 0.0 <= budget_limit_usd < _INF
            or type(registered_at) is not float or not 0.0 <= registered_at < _INF):
        return None
    return _new(AgentRecord, (
        agent_id, name, rt, tuple(dict.fromkeys(caps)), description, (), text,
        max_concurrency, memory_limit_mb, budget_limit_usd, registered_at, (), (), None,
        d.get("version") or "", "unsigned"))
