"""Bulk state for warm starts: a node given its membership and replica without a join.

Rules: these calls are inputs like any other (the node's contract): ``assume_member`` takes a
member as ALIVE at incarnation 0 (and pins its key when signatures are checked),
``import_state`` applies deltas as if a peer had sent them (events follow as usual; nothing is
judged: the caller vouches for them; ``quiet``: a bulk load that queues no events, the same
state otherwise), ``drop_pending_*`` forget what a warm start queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gossipreg.core.directory.directory import Directory
from gossipreg.core.directory.events import EventQueue
from gossipreg.core.gossip.dissemination import Dissemination
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.replica.store import OwnerDelta
from gossipreg.core.trust.judge import Trust

__all__ = ["WarmStart"]


class WarmStart:
    """The warm-start half of :class:`~gossipreg.core.node.Node` (a mixin)."""

    members: MemberTable
    swim: Swim
    dir: Directory
    out: Dissemination
    events: EventQueue
    trust: Trust | None
    _clock: tuple[float, float]
    _deadline_stale: bool
    _flush: Callable[[float], None]

    def assume_member(self, node_id: str, addr: str, generation: int, now: float,
                      key: bytes | None = None, features: int | None = None) -> None:
        """Take ``node_id`` as ALIVE without a join (a caller that knows the membership), with
        ``key`` pinned for it when this node checks signatures, and its ``features`` (as a join
        brings them)."""
        self.members.alive(node_id, addr, generation, 0, now)
        if features is not None:
            self.members.set_features(node_id, generation, features)
        self.swim.add_to_rotation(node_id)
        if key is not None and self.trust is not None:
            self.trust.pins[node_id] = key

    def export_state(self) -> list[OwnerDelta]:
        """This replica's whole state, every owner's, as anti-entropy deltas."""
        return self.dir.replica.delta_for({}, 1 << 40)

    def import_state(self, deltas: Iterable[OwnerDelta], now: float, *, wall: float,
                     quiet: bool = False) -> None:
        """Apply deltas as if a peer had sent them by anti-entropy (events follow as usual,
        none with ``quiet``: agents appearing make none, any other is made but not queued)."""
        self._clock = (now, wall)
        self.dir.apply_delta(deltas, now, quiet)
        self._flush(now)

    def drop_pending_events(self) -> None:
        """Forget the events not yet polled (a warm start's, which are not part of a run)."""
        self.events.clear()

    def drop_pending_gossip(self) -> None:
        """Forget queued directory writes and a pending beacon (the caller handed this node's
        state to every peer otherwise: the simulator's warm start, a benchmark without peers)."""
        self.out.drop_pending()
        self._deadline_stale = True
