"""The side-by-side table of a faults run: one row per figure, gossipreg / Serf and their
ratio (gossipreg ÷ Serf: below 1 is better for times, and false failures are counts)."""

from __future__ import annotations

from typing import Any

__all__ = ["ROWS", "table"]

# (label, key in a system's figures, how to reduce it: "value" | "median" | "spread" | "max")
ROWS: list[tuple[str, str, str]] = [
    ("join (all see all alive), s", "join_s", "value"),
    ("false failures at 5% loss (window with writes)", "false_failures@0.05", "value"),
    ("false failures at 10% loss (window with writes)", "false_failures@0.1", "value"),
    ("false failures at 20% loss (window with writes)", "false_failures@0.2", "value"),
    ("propagation at 10% loss, median s", "propagation_s@0.1", "median"),
    ("propagation at 20% loss, median s", "propagation_s@0.2", "median"),
    ("SIGKILL -> failed at every survivor, s", "detection_s", "spread"),
    ("restart on same address -> all alive, s", "restart_rejoin_s", "spread"),
    ("false failures around kill/restart", "false_failures_kill", "value"),
    ("two-way partition: each side sees other failed, s", "partition_split_s", "spread"),
    ("partition healed: all alive again, s", "partition_heal_s", "spread"),
    ("one-way: cut-off side seen failed by the rest, s", "oneway_b_sees_a_failed_s", "value"),
    ("one-way: pairs the cut-off side saw failed", "oneway_a_sees_b_failed_pairs", "value"),
    ("one-way healed: all alive, s", "oneway_heal_s", "value"),
    ("isolated host seen failed by all, s", "isolation_detected_s", "value"),
    ("isolation healed: all alive, s", "isolation_heal_s", "value"),
    ("false failures from a SIGSTOP pause", "false_failures_stop", "value"),
]


def _median(v: Any) -> float | None:
    got = sorted(x for x in v if x is not None) if isinstance(v, list) else []
    if not got:
        return None
    m = len(got) // 2
    return got[m] if len(got) % 2 else (got[m - 1] + got[m]) / 2


def _num(v: Any, how: str) -> float | None:
    if v is None:
        return None
    if how == "median":
        return _median(v)
    if how == "spread":
        return v.get("median") if isinstance(v, dict) else None
    return float(v) if isinstance(v, int | float) else None


def _cell(v: Any, how: str) -> str:
    if v is None:
        return "-"
    if how == "spread" and isinstance(v, dict):
        parts = ["timeout" if x is None else f"{x:.1f}"
                 for x in (v["min"], v["median"], v["max"])]
        miss = f" ({v['missed']} timed out)" if v["missed"] else ""
        return "/".join(parts) + miss
    x = _num(v, how)
    if x is None:
        return "timeout"
    return f"{x:.0f}" if float(x).is_integer() and how == "value" else f"{x:.2f}"


def table(result: dict[str, Any]) -> str:
    """Render the figures of :func:`sim.mesh.faults.play` (spreads are min/median/max)."""
    systems = result["systems"]
    names = list(systems)
    w = 52
    sch = result["schedule"]
    head = f"N = {sch['nodes']}, loss {sch['loss']:.0%}, seed {sch['seed']}"
    lines = [f"{head:<{w}}" + "".join(f"{n:>30}" for n in names)
             + ("   ratio" if len(names) == 2 else "")]
    for label, key, how in ROWS:
        vals = [systems[n].get(key) for n in names]
        if all(v is None for v in vals):
            continue
        row = f"{label:<{w}}" + "".join(f"{_cell(v, how):>30}" for v in vals)
        nums = [_num(v, how) for v in vals]
        if len(nums) == 2 and nums[0] is not None and nums[1]:
            row += f"{nums[0] / nums[1]:>8.2f}"
        lines.append(row)
    return "\n".join(lines)
