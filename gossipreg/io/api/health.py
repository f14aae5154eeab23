"""A node's health in one word, for ``/v1/health``, its readiness form and the CLI.

- ``joining``: seeds are configured and none has answered yet;
- ``refused``: a seed refused our join (another live node has our name);
- ``ok``: joined (or nothing to join) and, if we ever had peers, some are alive;
- ``isolated``: joined once, but no other member is alive now;
- ``leaving``: a graceful leave is under way.

A node is *ready* (for an orchestrator's readiness probe) once joined and until it leaves.
On a node with a token, a caller without it (a probe) reads the state, readiness and version
only (:func:`public_health`): no names, addresses or counts.
The HTTP body also says how searches are ranked (``search``: ``{"mode": "hybrid", "model": ...}``
or ``{"mode": "lexical", "reason": ...}``; :meth:`gossipreg.io.searching.NodeSearch.status`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gossipreg.core.reader import NodeStats
from gossipreg.core.types import MemberState
from gossipreg.version import __version__

__all__ = ["health_report", "health_state", "is_ready", "public_health"]


def health_state(st: NodeStats, has_seeds: bool) -> str:
    """The word for a node with stats ``st`` (``has_seeds``: it was given seeds to join)."""
    if st.left:
        return "leaving"
    if st.join_refused:
        return "refused"
    if not st.joined:
        return "joining"
    counts = st.member_counts
    alive_others = counts[MemberState.ALIVE] + counts[MemberState.SUSPECT] - 1
    if alive_others <= 0 and (has_seeds or sum(counts.values()) > 1):
        return "isolated"
    return "ok"


def is_ready(st: NodeStats, has_seeds: bool) -> bool:
    return health_state(st, has_seeds) in ("ok", "isolated")


def health_report(st: NodeStats, has_seeds: bool,
                  join_reason: Callable[[], str]) -> dict[str, Any]:
    """The JSON body of ``/v1/health``; ``join_reason`` says why a join has not succeeded."""
    state = health_state(st, has_seeds)
    out: dict[str, Any] = {
        "status": state, "ready": state in ("ok", "isolated"), "version": __version__,
        "node_id": st.node_id,
        "address": st.address, "members_alive": st.member_counts[MemberState.ALIVE],
        "agents": st.agents, "health_score": st.health_score,
    }
    if state in ("joining", "refused"):
        out["reason"] = join_reason()
    return out


def public_health(report: dict[str, Any]) -> dict[str, Any]:
    """What a caller without the token may read of a health report."""
    return {k: report[k] for k in ("status", "ready", "version")}
