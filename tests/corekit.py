"""A kit for tests of the sans-I/O core, in h11's style: nodes are driven only through their
inputs (``handle_packet``, ``handle_timeout``) and judged by what they transmit, decoded.

- :func:`mesh` builds a simulated cluster joined through ``n0``;
- :func:`hear` frames messages as a peer would send them and hands them to a node;
- :func:`said` drains a node's transmits and decodes every message, per destination;
- :class:`Tap` records, decoded, every message a cluster's nodes send (before the network),
  so a test can wait for one; links are held and released with the cluster's own
  ``partition_oneway`` / ``clog`` and ``repair`` / ``unclog``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import RECORD_VALUES
from gossipreg.core.node import Node
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.keyring import Keyring
from gossipreg.core.wire.messages import Message, encode, parse
from sim.cluster import Cluster

__all__ = ["Said", "Tap", "hear", "mesh", "said"]


def mesh(n: int, seed: int = 1, config: NodeConfig | None = None, **cfg: Any) -> Cluster:
    """``n`` simulated nodes ``n0``..``n{n-1}``, every one joining through ``n0``."""
    c = Cluster(seed=seed, config=config or NodeConfig.lan(**cfg))
    c.add_node("n0")
    for i in range(1, n):
        c.add_node(f"n{i}", seeds=["n0"])
    return c


def _codec(node: Node) -> Codec:
    keys = node.keys
    return Codec(node.cfg.cluster, Keyring(list(keys)) if keys else None,
                 max_packet_size=node.cfg.max_packet_size)


def hear(node: Node, sender: str, sender_addr: str, *msgs: Message, now: float,
         wall: float = 1_700_000_000.0) -> bool:
    """Deliver ``msgs`` to ``node`` in one frame from ``sender`` at ``sender_addr``; whether the
    node accepted the frame."""
    frame = _codec(node).encode(sender, sender_addr, [encode(m, RECORD_VALUES) for m in msgs])
    return node.handle_packet(frame, now, wall=wall).accepted


class Said(NamedTuple):
    """One message a node sent."""

    src: str
    dest: str
    msg: Message


def said(node: Node) -> list[Said]:
    """Everything ``node`` has queued to send (drained), decoded."""
    codec = _codec(node)
    out = []
    while (tx := node.poll_transmit()) is not None:
        for raw in codec.decode(tx.payload).messages:
            msg = parse(raw, RECORD_VALUES)
            if msg is not None:
                out.append(Said(node.id, tx.dest, msg))
    return out


class Tap:
    """Every message the nodes of ``cluster`` send, decoded, in order (attach before running)."""

    def __init__(self, cluster: Cluster) -> None:
        self.seen: list[Said] = []
        self._cluster = cluster
        cluster.tap = self._on_frame

    def _on_frame(self, src: str, dest: str, payload: bytes) -> None:
        codec = _codec(self._cluster.node(src))
        for raw in codec.decode(payload).messages:
            msg = parse(raw, RECORD_VALUES)
            if msg is not None:
                self.seen.append(Said(src, dest, msg))

    def since(self, mark: int, match: Callable[[Said], bool]) -> list[Said]:
        """The messages after position ``mark`` (a ``len(tap.seen)``) that ``match``."""
        return [s for s in self.seen[mark:] if match(s)]
