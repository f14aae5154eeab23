"""Who holds a key about an agent, per agent id: usually one owner, kept as a plain str (a set
costs ~200 bytes), else the set of owners."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Holders", "each", "held_by", "let_go"]

Holders = str | set[str]


def held_by(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if h is None:
        table[agent_id] = owner
    elif isinstance(h, str):
        if h != owner:
            table[agent_id] = {h, owner}
    else:
        h.add(owner)


def let_go(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if isinstance(h, str):
        if h == owner:
            del table[agent_id]
    elif h is not None:
        h.discard(owner)
        if len(h) == 1:
            table[agent_id] = next(iter(h))


def each(h: Holders | None) -> Iterable[str]:
    if h is None:
        return ()
    return (h,) if isinstance(h, str) else h
