"""Why an agent went or changed status: the one table of causes (``types.Cause``), told from
what the view knows.

Rules:
- A record's tombstone says why its owner deleted it (``deregistered`` or
  ``heartbeat_expired``); any other disappearance is told by the owner's member state
  (``owner_left``, ``owner_failed``), by the batch (``owner_restarted``, ``moved``) or else
  ``deregistered``.
- A status change: OFFLINE is ``owner_failed``, leaving OFFLINE ``owner_recovered``; a winning
  write that is the owner's judge verdict ``heartbeat_missed``; the judge withdrawing it
  ``heartbeat_resumed``; anything else ``status_write``, with the writer's words as ``reason``
  and the writer as ``source`` (never as the cause).
"""

from __future__ import annotations

from typing import Any

from gossipreg.core.directory.records import StatusWrite
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentStatus, AgentView, Cause, MemberState

__all__ = ["CHECK_CAUSES", "GONE", "JUDGE_REASON", "TOMBSTONE_CAUSES", "check_reason",
           "gone_cause", "is_verdict", "status_cause"]

# The reason the owner's heartbeat judge writes with its UNHEALTHY verdict.
JUDGE_REASON = Cause.HEARTBEAT_MISSED._value_
# What the owner's health checks write as their reason; reserved, so never a caller's words.
CHECK_CAUSES = frozenset({Cause.CHECK_FAILED._value_, Cause.CHECK_PASSED._value_})
# A status write's tombstone reason when it went because its agent did (not a withdrawal).
GONE = "gone"
TOMBSTONE_CAUSES = {"deregistered": Cause.DEREGISTERED,
                    "heartbeat_expired": Cause.HEARTBEAT_EXPIRED}


def check_reason(reason: str, check: bool) -> None:
    """Refuse a caller's status write that uses a health check's reason, and a health check's
    (``check``) that uses another: InvalidArgumentError."""
    if (reason in CHECK_CAUSES) is not check:
        raise InvalidArgumentError(
            f"reason {reason!r} is reserved for the owner's health checks" if not check
            else f"a health check writes check_failed or check_passed, not {reason!r}")


def is_verdict(w: StatusWrite, owner: str) -> bool:
    """Whether ``w`` is the heartbeat judge's verdict of the agent's ``owner``."""
    return (w.status is AgentStatus.UNHEALTHY and w.cause == JUDGE_REASON
            and w.stamp.node == owner)


def gone_cause(owner_state: tuple[MemberState, float] | None) -> Cause:
    """The cause of a disappearance nothing else explains, from the owner's member state."""
    if owner_state is not None and owner_state[0] is MemberState.LEFT:
        return Cause.OWNER_LEFT
    if owner_state is not None and owner_state[0] is MemberState.DEAD:
        return Cause.OWNER_FAILED
    return Cause.DEREGISTERED


def status_cause(old: AgentView, new: AgentView, winner: StatusWrite | None, resumed: bool,
                 meta: dict[str, Any]) -> None:
    """Put the cause (and the writer's reason and name) of a status change in ``meta``."""
    if new.status is AgentStatus.OFFLINE:
        meta["cause"] = Cause.OWNER_FAILED._value_
    elif old.status is AgentStatus.OFFLINE:
        meta["cause"] = Cause.OWNER_RECOVERED._value_
    elif winner is not None and is_verdict(winner, new.node_id):
        meta["cause"] = Cause.HEARTBEAT_MISSED._value_
    elif resumed:
        meta["cause"] = Cause.HEARTBEAT_RESUMED._value_
    elif (winner is not None and winner.cause in CHECK_CAUSES
          and winner.stamp.node == new.node_id):
        meta["cause"] = winner.cause  # the owner's health check (callers cannot write these)
    else:
        meta["cause"] = Cause.STATUS_WRITE._value_
        if winner is not None:
            meta["reason"] = winner.cause
            meta["source"] = winner.stamp.node
