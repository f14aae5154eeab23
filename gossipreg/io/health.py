"""A node's health in one word, for ``/v1/health``, its readiness form and the CLI.

- ``joining``: seeds are configured and none has answered yet;
- ``refused``: a seed refused our join (another live node has our name);
- ``ok``: joined (or nothing to join) and, if we ever had peers, some are alive;
- ``isolated``: joined once, but no other member is alive now;
- ``leaving``: a graceful leave is under way.

A node is *ready* (for an orchestrator's readiness probe) once joined and until it leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gossipreg.core.types import MemberState

if TYPE_CHECKING:
    from gossipreg.io.runner import GossipNode

__all__ = ["health_report", "health_state", "is_ready"]


def health_state(node: GossipNode) -> str:
    core = node.core
    if core.left:
        return "leaving"
    if core.ae.refused:
        return "refused"
    if not core.joined:
        return "joining"
    if not core.members.live_others and (node.seeds or len(core.members) > 1):
        return "isolated"
    return "ok"


def is_ready(node: GossipNode) -> bool:
    return health_state(node) in ("ok", "isolated")


def health_report(node: GossipNode) -> dict[str, Any]:
    """The JSON body of ``/v1/health``."""
    core = node.core
    state = health_state(node)
    out: dict[str, Any] = {
        "status": state, "ready": state in ("ok", "isolated"), "node_id": core.id,
        "address": core.addr, "members_alive": core.members.count(MemberState.ALIVE),
        "agents": len(core.dir.view.visible), "health_score": core.health_score(),
    }
    if state in ("joining", "refused"):
        out["reason"] = node.join_watch.describe()
    return out
