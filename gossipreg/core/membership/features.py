"""Feature bits as SWIM gossips them: each member's row travels with its Alive and beside
every member table; a probe of a member whose bits are unknown asks for them.

Rules: a row is news only for the generation it names (``MemberTable.set_features``); news is
re-gossiped under a key of its own, which replaces only older bits of the same member.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from gossipreg.core.membership.table import MemberTable
from gossipreg.core.wire.messages import Alive, Features, Message, Sender

__all__ = ["FeatureGossip", "GossipOut"]


class GossipOut(Sender, Protocol):
    """Where membership news goes (the node's dissemination)."""

    def gossip_member(self, node_id: str, msg: Message, now: float) -> None: ...


class FeatureGossip:
    """The feature half of :class:`~gossipreg.core.membership.swim.Swim` (a mixin: the
    failure detector's table and outgoing traffic)."""

    members: MemberTable
    out: GossipOut

    def _gossip_features(self, node_id: str, generation: int, bits: int, now: float) -> None:
        # A key no node id can take ("\0" is not printable): it replaces only older features.
        self.out.gossip_member("\0features:" + node_id,
                               Features(((node_id, generation, bits),)), now)

    def announce_features(self, now: float) -> None:
        """Our feature bits changed: gossip them."""
        self._gossip_features(*self._own_features().rows[0], now)

    def alive_self(self) -> Alive:
        raise NotImplementedError

    def _signed_alive(self) -> Alive | None:
        """Our Alive when it is signed (it goes with the features we send directly)."""
        alive = self.alive_self()
        return alive if alive.proof is not None else None

    def _own_features(self, ask: bool = False) -> Features:
        me = self.members.me
        return Features(((me.node_id, me.generation, me.features),), ask)

    def on_features(self, msg: Features, now: float, src_addr: str) -> None:
        """Feature bits of members; news is relayed like an Alive. A sender that asks (it
        lacks our bits) gets our row straight back, so two nodes learn each other's bits
        directly whatever the gossip path (a previous-release relay drops them)."""
        for node_id, generation, bits in msg.rows:
            if self.members.set_features(node_id, generation, bits):
                self._gossip_features(node_id, generation, bits, now)
        if msg.ask:
            self.out.send(src_addr, dataclasses.replace(self._own_features(),
                                                        alive=self._signed_alive()))

    def features_table(self) -> Features:
        """Every known member's features, and our signed Alive: sent beside a member table."""
        return Features(self.members.features_rows(), False, self._signed_alive())
