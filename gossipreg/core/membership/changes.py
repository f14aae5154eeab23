"""A member's state change as it enters the view's pipeline, and the member event it makes.

Rules: ALIVE after nothing, LEFT or a restart is MEMBER_JOINED, ALIVE after SUSPECT or DEAD is
MEMBER_ALIVE (a refutation or a recovery); SUSPECT, DEAD and LEFT map to MEMBER_SUSPECT,
MEMBER_FAILED and MEMBER_LEFT. The metadata names the member (and who suspected it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gossipreg.core.types import MemberState, RegistryEventType

__all__ = ["MemberChanged"]

E = RegistryEventType
_KINDS = {
    MemberState.SUSPECT: E.MEMBER_SUSPECT,
    MemberState.DEAD: E.MEMBER_FAILED,
    MemberState.LEFT: E.MEMBER_LEFT,
}


class MemberChanged(NamedTuple):
    """A member's state changed: it enters the pipeline like a replica change. ``meta`` is the
    member event's metadata (node id, address, incarnation, generation, source)."""

    node_id: str
    old: MemberState | None
    new: MemberState
    restarted: bool
    meta: dict[str, Any]

    @property
    def kind(self) -> RegistryEventType:
        """The member event this change makes."""
        if self.new is MemberState.ALIVE:
            return (E.MEMBER_JOINED if self.old in (None, MemberState.LEFT) or self.restarted
                    else E.MEMBER_ALIVE)
        return _KINDS[self.new]
