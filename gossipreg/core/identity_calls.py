"""The operator's identity calls on a node: rotate its signing key, forget a pinned one, read
the pins (the half of :class:`~gossipreg.core.node.Node` that deals with its keys; a mixin).

Rules: these are inputs like any other (the node's contract): a rotation is announced at once
at a new incarnation; forgetting a pin is this node's alone and never gossiped.
"""

from __future__ import annotations

from collections.abc import Callable

from gossipreg.core.errors import NodeStateError
from gossipreg.core.membership.swim import Swim
from gossipreg.core.trust.judge import Trust
from gossipreg.core.trust.proofs import Identity

__all__ = ["IdentityCalls"]


class IdentityCalls:
    """The identity half of :class:`~gossipreg.core.node.Node` (a mixin)."""

    trust: Trust | None
    swim: Swim
    _flush: Callable[[float], None]

    def rotate_identity(self, identity: Identity, now: float) -> None:
        """Sign with a new key (``identity.rotation`` signed by the current one): announced
        at once at a new incarnation. NodeStateError without an identity."""
        if self.trust is None:
            raise NodeStateError("this node has no identity to rotate")
        self.trust.rotate(identity)
        self.swim.refute_now(now)
        self._flush(now)

    def forget_node(self, name: str) -> bool:
        """Release ``name``'s pinned key on this node only (an operator's call; never
        gossiped): the next key seen for it is pinned. False when none was pinned."""
        return self.trust is not None and self.trust.forget(name)

    def pinned(self) -> tuple[dict[str, bytes], int]:
        """The keys pinned for other names (a copy) and a counter of their changes."""
        return ({}, 0) if self.trust is None else (dict(self.trust.pins), self.trust.pins_changed)
