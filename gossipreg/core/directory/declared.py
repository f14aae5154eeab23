"""The status an agent's raters declared: the winning status write made after its registration.

Rules: a write counts only if stamped by its writer (a stamp naming another node is forged) and
made at or after the record's ``registered_at``; the highest HLC stamp wins. ``standing`` are
writes their writers deleted because the agent was gone there (they still count here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gossipreg.core.directory.holders import Holders, each_holder
from gossipreg.core.directory.records import STATUS, StatusWrite
from gossipreg.core.types import AgentRecord

__all__ = ["declared"]


def declared(raters: Holders | None, standing: dict[str, StatusWrite] | None,
             value: Callable[[str, str], Any], agent_id: str,
             record: AgentRecord) -> StatusWrite | None:
    """The winning write among ``raters``' (read by ``value(owner, key)``) and ``standing``."""
    if raters is None and standing is None:
        return None
    floor = int(record.registered_at * 1000)
    key = STATUS + agent_id
    best: StatusWrite | None = None
    if type(raters) is str:  # one writer: the usual case
        best = value(raters, key)
        if best is not None and (best.stamp.wall_ms < floor or best.stamp.node != raters):
            best = None
    else:
        for owner in each_holder(raters):
            w: StatusWrite | None = value(owner, key)
            if (w is not None and w.stamp.wall_ms >= floor and w.stamp.node == owner
                    and (best is None or w.stamp > best.stamp)):
                best = w
    if standing is not None:
        for owner, w in standing.items():
            if (w.stamp.wall_ms >= floor and w.stamp.node == owner
                    and (best is None or w.stamp > best.stamp)):
                best = w
    return best
