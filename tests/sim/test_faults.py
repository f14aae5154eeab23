"""The fault harness end to end on four emulated hosts (gossipreg only): a window of 10% loss
with writes and no false failure, a SIGKILL detected and a restart rejoined, a two-way
partition seen by both sides and healed. Every wait is bounded; no timing is asserted (the
figures are the benchmark's: python -m sim.mesh faults). Root with iproute2 and nftables."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sim.mesh import netns
from tests.support import require_netns

pytestmark = pytest.mark.network

require_netns("fault harness tests")

from sim.mesh.faults import Schedule, play  # noqa: E402
from sim.mesh.hosts import GossipregHosts  # noqa: E402


async def _play(lab: netns.NetLab, sch: Schedule, log: list[str]) -> dict[str, Any]:
    d = GossipregHosts(lab, sch.nodes)
    try:
        return await play(lab, [d], sch, log.append)
    finally:
        await d.close()


def test_loss_a_kill_and_a_partition_on_four_hosts() -> None:
    sch = Schedule(nodes=4, loss=0.1, windows=[0.1], window=5.0, partitions=1, timeout=60.0,
                   seed=3, halves=True, steps=frozenset({"loss", "kill", "partition"}))
    log: list[str] = []
    with netns.NetLab(sch.nodes, handle_signals=False) as lab:
        lab.enter_hub()
        try:
            result = asyncio.run(_play(lab, sch, log))
        finally:
            lab.leave_hub()
    g = result["systems"]["gossipreg"]
    trace = "\n".join(log)
    assert g["join_s"] is not None, trace
    assert g["false_failures@0.1"] == 0, trace
    assert g["false_failures_kill"] == 0, trace
    for key in ("detection_s", "restart_rejoin_s", "partition_split_s", "partition_heal_s"):
        assert g[key]["missed"] == 0 and g[key]["max"] is not None, f"{key}\n{trace}"
    assert any("partition 1" in line for line in result["faults"])
