"""The simulator's faults as typed actions, and the nemesis that applies them to a cluster.

Rules: a fault is a value (what happens, to whom); the nemesis is the only code that turns
faults into cluster calls, and it keeps the record the report needs: the partition windows
(inside which DEAD verdicts across the cut are right) and when each partition healed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.cluster import Cluster

__all__ = ["Crash", "Fault", "Heal", "Join", "Leave", "Nemesis", "Partition", "Pause",
           "Restart", "Resume", "SetLoss"]


@dataclass(frozen=True, slots=True)
class Crash:
    """The node's process dies and stays down."""

    node: str


@dataclass(frozen=True, slots=True)
class Partition:
    """Every link between the two sides is cut, both ways."""

    side_a: tuple[str, ...]
    side_b: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Restart:
    """A crashed node starts again (a new generation) and joins through ``seeds``."""

    node: str
    seeds: tuple[str, ...] = ("n0",)


@dataclass(frozen=True, slots=True)
class Heal:
    """Every cut link works again."""


@dataclass(frozen=True, slots=True)
class Leave:
    """The node leaves gracefully, then its process exits."""

    node: str


@dataclass(frozen=True, slots=True)
class Join:
    """A new node starts and joins through ``seeds``."""

    node: str
    seeds: tuple[str, ...] = ("n0",)


@dataclass(frozen=True, slots=True)
class SetLoss:
    """Every packet is lost with probability ``rate`` from now on."""

    rate: float


@dataclass(frozen=True, slots=True)
class Pause:
    """The node stops (SIGSTOP): it keeps its state, packets to it wait."""

    node: str


@dataclass(frozen=True, slots=True)
class Resume:
    """A paused node runs again."""

    node: str


Fault = Crash | Restart | Partition | Heal | Leave | Join | SetLoss | Pause | Resume


class Nemesis:
    """Applies faults to ``cluster`` (one shard's, in a two-worker run: each worker applies
    every fault, to the nodes it runs) and records their windows."""

    def __init__(self, cluster: Cluster, names: list[str]) -> None:
        self.c = cluster
        self.names = names  # every node of the run, joined ones included
        self.partitioned = False
        self.windows: list[tuple[float, float]] = []  # (start, end) of each partition
        self.heals: list[float] = []  # when each partition healed

    def apply(self, f: Fault) -> None:
        c = self.c
        match f:
            case Crash(node):
                c.crash(node)
            case Restart(node, seeds):
                c.restart(node, list(seeds))
            case Partition(side_a, side_b):
                if self.partitioned:  # one cut at a time: the new one replaces it
                    self.apply(Heal())
                self.partitioned = True
                self.windows.append((c.now, float("inf")))
                c.partition(set(side_a), set(side_b))
            case Heal():
                if self.partitioned:
                    self.partitioned = False
                    start, _ = self.windows.pop()
                    self.windows.append((start, c.now))
                    self.heals.append(c.now)
                c.repair()
            case Leave(node):
                if not c.nodes[node].remote:
                    c.leave(node)
                c.crash(node)  # a left process exits
            case Join(node, seeds):
                self.names.append(node)
                c.add_node(node, list(seeds))
            case SetLoss(rate):
                c.net.loss = rate
            case Pause(node):
                c.pause(node)
            case Resume(node):
                c.resume(node)

    def in_window(self, t: float, grace: float) -> bool:
        """Whether ``t`` falls inside a partition or within ``grace`` seconds after it."""
        return any(s <= t <= e + grace for s, e in self.windows)
