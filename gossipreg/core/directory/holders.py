"""Tables of who holds a key about an agent (the owners of its records, of status writes about it).

Most agents have one holder, kept as a plain ``str``; a set (about 200 bytes) only when two or
more owners hold one.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Holders", "add_holder", "discard_holder", "each_holder"]

Holders = str | set[str]


def add_holder(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if h is None:
        table[agent_id] = owner
    elif isinstance(h, str):
        if h != owner:
            table[agent_id] = {h, owner}
    else:
        h.add(owner)


def discard_holder(table: dict[str, Holders], agent_id: str, owner: str) -> None:
    h = table.get(agent_id)
    if isinstance(h, str):
        if h == owner:
            del table[agent_id]
    elif h is not None:
        h.discard(owner)
        if len(h) == 1:
            table[agent_id] = next(iter(h))


def each_holder(h: Holders | None) -> Iterable[str]:
    if h is None:
        return ()
    return (h,) if isinstance(h, str) else h
