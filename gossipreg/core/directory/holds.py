"""Restarted owners held until their new state arrives.

Rules:
- A member that restarts (a new generation) while we hold live keys of its previous generation
  is held: the view keeps deriving its agents from the state it had before (ALIVE, SUSPECT, or
  DEAD since when), so nothing about them changes yet.
- It is released when its new generation's state is in the replica (the answer to the exchange
  the node opens at once with it, or any write or delta of that generation): the old keys and
  the new ones then reach the view as one batch, so an agent the owner brought back (from its
  data directory) stays registered, and only the others go (``owner_restarted``).
- A hold lasts at most as long as the failure detector would take to declare the member
  failed (Lifeguard's longest suspicion timeout for the mesh's size, and ``request_timeout`` at
  least): a restarted owner whose new state does not come by then is treated as one that is
  gone. Then, or when that member is declared dead, leaves or restarts again, the old state is
  dropped as it is for a restart without a hold; a suspicion and its refutation keep it (a
  loaded restarted process is often suspected once). A shorter bound, ``request_timeout``
  alone, let a loaded machine's slower answer churn every agent the owner brought back.
"""

from __future__ import annotations

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import suspicion_timeout_bounds
from gossipreg.core.membership.table import MemberChange, MemberTable
from gossipreg.core.replica.store import Replica
from gossipreg.core.types import MemberState

__all__ = ["Holds"]


class Holds:
    """The held owners of one directory: owner -> (previous state, since, deadline)."""

    def __init__(self, members: MemberTable, replica: Replica, cfg: NodeConfig) -> None:
        self.members = members
        self.replica = replica
        self.cfg = cfg
        self.auto_deregister_timeout = cfg.auto_deregister_timeout
        self.held: dict[str, tuple[MemberState, float, float]] = {}

    def __bool__(self) -> bool:
        return bool(self.held)

    def state(self, owner: str) -> tuple[MemberState, float] | None:
        """The state a held owner's agents are derived from (None: not held)."""
        h = self.held.get(owner)
        return None if h is None else (h[0], h[1])

    def hold(self, owner: str, old: MemberState | None, generation: int, expiry: float | None,
             now: float) -> bool:
        """Hold ``owner``, restarted as ``generation``, which was ``old`` (DEAD: its agents
        going at ``expiry``), if we hold live keys of an older generation of it."""
        r = self.replica
        if old is None or r.generation_of(owner) >= generation or not any(
                r.value(owner, k) is not None for k in r.keys_of(owner)):
            return False
        since = now
        if old is MemberState.DEAD:  # its agents stay OFFLINE until their own expiry
            since = (expiry - self.auto_deregister_timeout if expiry is not None
                     else float("-inf"))
        cfg = self.cfg
        _, longest = suspicion_timeout_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult,
                                              len(self.members), cfg.probe_interval)
        self.held[owner] = (old, since, now + max(cfg.request_timeout, longest))
        return True

    def after_change(self, change: MemberChange, generation: int, expiry: float | None,
                     now: float) -> tuple[bool, bool]:
        """What a member's change means here: (held, so its state is to be asked for; its
        old state is to be dropped now). A suspicion or its refutation keeps a hold and asks
        again (the first ask may have been lost); a restart starts one when it can."""
        owner = change.node_id
        if not change.restarted and change.new.running:
            return owner in self.held, False
        if change.restarted and self.hold(owner, change.old, generation, expiry, now):
            return True, False
        return False, change.restarted or self.drop(owner)

    def drop(self, owner: str) -> bool:
        """Stop holding ``owner``; whether it was held."""
        return self.held.pop(owner, None) is not None

    def caught_up(self) -> bool:
        """Release the owners whose new generation's state arrived; whether any was."""
        gen = self.replica.generation_of
        done = [o for o in self.held
                if (m := self.members.get(o)) is None or gen(o) >= m.generation]
        for owner in done:
            del self.held[owner]
        return bool(done)

    def due(self, now: float) -> list[str]:
        """Owners whose hold ran out (released: their old state is to be dropped)."""
        out = [o for o, (_, _, d) in self.held.items() if d <= now]
        for owner in out:
            del self.held[owner]
        return out

    def next_deadline(self) -> float | None:
        return min(d for _, _, d in self.held.values()) if self.held else None
