"""The simulator's report: the figures of one run, from what the runner measured.

Rules: figures only from what was observed (events as nodes emitted them, bytes as they were
sent, checks as computed); NaN or None where a figure has no sample, never a made-up value.
A DEAD verdict is false unless its subject crashed or left, or it fell inside a partition (or
within the longest suspicion timeout after it), where both sides are right to see the other
side DEAD.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.formulas import suspicion_timeout_bounds
from sim.checks import Checks
from sim.faults import Crash, Nemesis
from sim.scenario import Plan
from sim.workload import Tracker

__all__ = ["Measured", "build", "percentile"]


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


@dataclass
class Measured:
    """What one run observed (merged from every worker)."""

    start: float
    span: float
    live: set[str]
    all_nodes: int
    bytes0: dict[str, int]
    bytes1: dict[str, int]
    cats0: dict[str, int]
    cats1: dict[str, int]
    bound: float
    converged_at: float | None
    settle_start: float
    checks: Checks
    heals: list[tuple[float, float | None]]  # (heal time, when every member was ALIVE again)
    wall: float
    paths: tuple[int, ...] = (0, 0, 0)  # frames sent as datagrams, on links, by HTTP POST


def _detection(pl: Plan, t: Tracker, live: set[str]) -> tuple[float | None, float | None]:
    crashed = [a for a in pl.actions if isinstance(a.op, Crash)]
    if not crashed:
        return None, None
    op = crashed[0].op
    assert isinstance(op, Crash)
    victim, t_c = op.node, crashed[0].at
    firsts: dict[str, float] = {}
    for when, obs, subj, _ in t.failed:
        if subj == victim and obs not in firsts:
            firsts[obs] = when
    if not firsts:
        return None, None
    first = min(firsts.values()) - t_c
    observers = live - {victim}
    every = max(firsts[x] for x in observers) - t_c if observers <= set(firsts) else None
    return first, every


def build(o: Any, cfg: NodeConfig, pl: Plan, t: Tracker, nemesis: Nemesis,
          m: Measured) -> dict[str, Any]:
    """The report of run options ``o`` (see ``sim.run.Options``)."""
    live = m.live
    lo, hi = suspicion_timeout_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult,
                                      len(live), cfg.probe_interval)
    prop = []
    for aid, p in t.probes.items():
        targets = p.target & live
        seen = t.registered.get(aid, {})
        if targets and targets <= seen.keys():
            prop.append(max(seen[n] for n in targets) - p.t0)
    gi = cfg.gossip_interval
    det_first, det_all = _detection(pl, t, live)
    false_dead = [(when, obs, subj) for when, obs, subj, _ in t.failed
                  if subj not in pl.faulty and not nemesis.in_window(when, hi)]
    by_subject: dict[str, set[str]] = {}
    for _, obs, subj in false_dead:
        by_subject.setdefault(subj, set()).add(obs)
    span = m.span
    per_node = ([(m.bytes1.get(n, 0) - m.bytes0.get(n, 0)) / span for n in m.bytes1]
                if span > 0 else [0.0])
    n_count = max(1, len(m.bytes1))
    split = {k: (m.cats1.get(k, 0) - m.cats0.get(k, 0)) / n_count / span for k in m.cats1}
    checks = {
        # Each over every live node, once the run settled (or at its end, if it did not).
        "replicas_equal": m.checks.replicas_equal,
        "member_tables_agree": m.checks.member_tables_agree,
        "registrations_visible_everywhere": m.checks.registrations_visible,
        "converged_within_bound": m.converged_at is not None,
        "no_false_dead_majority": all(len(obs) <= len(live) // 2
                                      for obs in by_subject.values()),
    }
    return {
        "seed": o.seed,
        "nodes": o.nodes,
        "workers": o.workers,
        "scenario": o.scenario,
        "agents_per_node": o.agents_per_node,
        "duration_s": o.duration,
        "loss": o.loss,
        "network": o.network,
        "idle": o.idle,
        "fault_log": pl.fault_log,
        "propagation_s": {"p50": percentile(prop, 0.5), "p99": percentile(prop, 0.99),
                          "max": max(prop) if prop else float("nan"), "count": len(prop)},
        "propagation_rounds": {"p50": percentile(prop, 0.5) / gi,
                               "p99": percentile(prop, 0.99) / gi,
                               "max": (max(prop) if prop else float("nan")) / gi},
        "detection_s": {"first": det_first, "all": det_all},
        "suspicion_bound_s": {"min": lo, "max": hi},
        "false_dead": len(false_dead),
        # The first verdicts themselves, to start an investigation from.
        "false_dead_verdicts": [{"t": round(w, 3), "observer": obs, "subject": subj}
                                for w, obs, subj in sorted(false_dead)[:20]],
        "bytes_per_node_per_s": {"mean": statistics.mean(per_node), "max": max(per_node)},
        "bytes_split": split,
        "frames_by_path": dict(zip(("datagram", "link", "http"), m.paths, strict=True)),
        "events_per_node": t.events / max(1, m.all_nodes),
        # Per healed partition: seconds from the heal until every live node saw every other
        # one ALIVE (None: not within the run and its settling).
        "heal_s": [None if done is None else done - at for at, done in m.heals],
        "convergence_s": None if m.converged_at is None else m.converged_at - m.settle_start,
        "convergence_bound_s": m.bound,
        "wall_s": m.wall,
        "checks": checks,
    }
