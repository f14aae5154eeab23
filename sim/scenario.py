"""Seeded workload and fault scenarios (the nemesis) for the simulator.

A scenario is a list of timed actions planned up front from the seed, so a run is fully
determined by its options. Faults:

- ``steady``: no faults.
- ``crash``: one node crashes a third of the way in (and stays down).
- ``partition``: the cluster splits in two halves at 1/4 of the run and heals at 1/2.
- ``churn``: nodes leave gracefully and new ones join, one every ``duration / 10`` seconds.
- ``flaky``: loss bursts (``max(3 x loss, 20%)`` for 5 s every 30 s) and one slow node that
  stops for 1 s every 10 s (shorter than any suspicion timeout: it must never be declared DEAD).

The workload registers agents, writes statuses (from owners and from other nodes), sends
heartbeats and deregisters agents at ``write_rate`` operations per second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sim.faults import Crash, Fault, Heal, Join, Leave, Partition, Pause, Resume, SetLoss

__all__ = ["SCENARIOS", "Action", "Plan", "Work", "plan"]

SCENARIOS = ("steady", "crash", "partition", "churn", "flaky")


@dataclass(frozen=True, slots=True)
class Work:
    """One workload operation by ``node``; ``draw`` (uniform in [0, 1)) picks which."""

    node: str
    draw: float


@dataclass(order=True)
class Action:
    """A fault or a workload operation, at virtual time ``at`` (``seq`` orders ties)."""

    at: float
    seq: int
    op: Fault | Work = field(compare=False)

    @property
    def label(self) -> str:
        return type(self.op).__name__.lower()


@dataclass
class Plan:
    actions: list[Action]
    last_fault: float
    faulty: set[str]  # nodes whose DEAD verdicts are legitimate (crashed or left)
    fault_log: list[str]


def plan(scenario: str, names: list[str], duration: float, start: float, seed: int,
         write_rate: float, loss: float, idle: bool) -> Plan:
    """Plan the run's actions between ``start`` and ``start + duration``."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    rng = random.Random(seed ^ 0x5EED)
    acts: list[Action] = []
    log: list[str] = []
    faulty: set[str] = set()
    seq = 0

    def add(at: float, op: Fault | Work) -> None:
        nonlocal seq
        seq += 1
        acts.append(Action(at, seq, op))

    end = start + duration
    last_fault = start
    others = names[1:]  # the seed node n0 never fails, so joins always have a way in
    if scenario == "crash" and others:
        victim = rng.choice(others)
        t = start + duration / 3
        add(t, Crash(victim))
        faulty.add(victim)
        log.append(f"t={t:.1f}s crash {victim}")
        last_fault = t
    elif scenario == "partition" and len(names) >= 2:
        half = len(names) // 2
        shuffled = rng.sample(names, len(names))
        a, b = sorted(shuffled[:half]), sorted(shuffled[half:])
        t1, t2 = start + duration / 4, start + duration / 2
        add(t1, Partition(tuple(a), tuple(b)))
        add(t2, Heal())
        log.append(f"t={t1:.1f}s partition {len(a)} | {len(b)} nodes; t={t2:.1f}s heal")
        last_fault = t2
    elif scenario == "churn" and others:
        step = duration / 10
        leavers = rng.sample(others, min(len(others) // 3 or 1, 5))
        t = start + step
        for i, victim in enumerate(leavers):
            add(t, Leave(victim))
            add(t + step / 2, Join(f"j{i}"))
            faulty.add(victim)
            log.append(f"t={t:.1f}s {victim} leaves; t={t + step / 2:.1f}s j{i} joins")
            last_fault = t + step / 2
            t += step
    elif scenario == "flaky":
        slow = rng.choice(others) if others else names[0]
        burst = max(3 * loss, 0.2)
        t = start + 5.0
        while t + 5.0 < end:
            add(t, SetLoss(burst))
            add(t + 5.0, SetLoss(loss))
            last_fault = t + 5.0
            t += 30.0
        t = start + 2.0
        while t + 1.0 < end:
            add(t, Pause(slow))
            add(t + 1.0, Resume(slow))
            last_fault = max(last_fault, t + 1.0)
            t += 10.0
        log.append(f"loss bursts of {burst:.0%} for 5 s every 30 s; {slow} stops 1 s every 10 s")
    if not idle and write_rate > 0:
        t = start + rng.expovariate(write_rate)
        while t < end:
            add(t, Work(rng.choice(names), rng.random()))
            t += rng.expovariate(write_rate)
    acts.sort()
    return Plan(acts, last_fault, faulty, log)
