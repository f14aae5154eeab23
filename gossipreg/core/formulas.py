"""Pure formulas of the protocol, kept apart so that they can be checked by tables.

Each is a function of its arguments alone (no state, no clock), tested by a table.
"""

from __future__ import annotations

import math

__all__ = [
    "awareness_scale",
    "convergence_bound",
    "miss_probability",
    "push_pull_scale",
    "retransmit_limit",
    "suspicion_timeout",
    "suspicion_timeout_bounds",
]


def retransmit_limit(retransmit_mult: int, n: int) -> int:
    """How many times a broadcast is sent: ``retransmit_mult * ceil(log10(n + 1))``."""
    return retransmit_mult * max(1, math.ceil(math.log10(max(n, 0) + 1)))


def miss_probability(limit: float, n: int) -> float:
    """Chance that some member never receives a broadcast that every one of ``n`` members sends
    ``limit`` times to random peers: each of the other ``n - 1`` misses all ``n * limit`` sends
    with probability ``(1 - 1/(n-1)) ** (n * limit)``. (~3% at n = 99 with the limit of 8; 1e-4 at
    n = 1,000 with 16: why owners beacon in the first case and not in the second.) Under packet
    loss, pass the limit times the chance that a packet arrives."""
    if n <= 2:
        return 0.0
    one = math.pow(1.0 - 1.0 / (n - 1), n * limit)
    return 1.0 - math.pow(1.0 - one, n - 1)


def suspicion_timeout_bounds(
    suspicion_mult: float, max_mult: float, n: int, probe_interval: float
) -> tuple[float, float]:
    """Lifeguard's ``(min, max)`` suspicion timeout in seconds.

    ``min = suspicion_mult * max(1, log10(n)) * probe_interval`` and ``max = max_mult * min``.
    """
    lo = suspicion_mult * max(1.0, math.log10(max(n, 1))) * probe_interval
    return lo, max_mult * lo


def suspicion_timeout(lo: float, hi: float, confirmations: int, expected: int) -> float:
    """Timeout after ``confirmations`` independent suspicions: from ``hi`` down to ``lo``.

    ``hi - (hi - lo) * log(c + 1) / log(k + 1)``, floored at ``lo``; with ``expected == 0`` the
    timeout is ``lo`` at once.
    """
    if expected <= 0:
        return lo
    frac = math.log(confirmations + 1) / math.log(expected + 1)
    return max(lo, hi - (hi - lo) * frac)


def awareness_scale(value: float, health: int) -> float:
    """Lifeguard local health: a node that is itself slow stretches its timers by ``health + 1``."""
    return value * (health + 1)


def push_pull_scale(interval: float, n: int, threshold: int = 32) -> float:
    """Push-pull period, stretched with cluster size above ``threshold`` nodes so that the
    per-node cost of full exchanges stays flat:
    ``interval * (ceil(log2(n) - log2(threshold)) + 1)``."""
    if n <= threshold:
        return interval
    return interval * (math.ceil(math.log2(n) - math.log2(threshold)) + 1)


def convergence_bound(reconnect_interval: float, push_pull_period: float,
                      max_suspicion: float, slack: float = 10.0) -> float:
    """How long after its last fault a cluster may take to agree again (the simulator's and
    the tests' one bound): a DEAD member is re-contacted within ``reconnect_interval``, a full
    anti-entropy exchange follows within one ``push_pull_period`` (already scaled to the
    cluster's size), the longest suspicion (``max_suspicion``) expires or is refuted, plus
    ``slack`` seconds for the gossip rounds in between."""
    return reconnect_interval + push_pull_period + max_suspicion + slack
