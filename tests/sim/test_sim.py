"""The simulator: pinned regression seeds per scenario, determinism, the CLI, and hypothesis
over random fault schedules (partitions, loss up to 20%, crashes, pauses, restarts)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import sim.run
import sim.workload
from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.core.formulas import (
    convergence_bound,
    push_pull_scale,
    suspicion_timeout_bounds,
)
from sim.checks import Checks, combine, summarise
from sim.cluster import Cluster, NetOptions, SimNode
from sim.run import Options, run
from sim.scenario import SCENARIOS


@pytest.mark.parametrize(("scenario", "seed"), [(s, 7) for s in SCENARIOS])
def test_pinned_scenario(scenario: str, seed: int) -> None:
    o = Options(nodes=12, agents_per_node=2, duration=60.0, loss=0.05, scenario=scenario,
                seed=seed)
    rep = run(o)
    assert all(rep["checks"].values()), (o.command(), rep["checks"])
    assert rep["false_dead"] == 0, o.command()
    assert rep["propagation_s"]["count"] > 10
    if scenario == "crash":
        assert rep["detection_s"]["all"] is not None
        assert rep["detection_s"]["all"] <= rep["suspicion_bound_s"]["max"] + 3.0


class _DeadlineCheckingCluster(Cluster):
    """After every input, a node's cached next deadline must be what a fresh look at all its
    timers gives (``Node.poll_timeout`` keeps its answer across packets of known news)."""

    checked = 0

    def _arm(self, sn: SimNode) -> None:
        node = sn.node
        if node is not None and sn.state == "up":
            cached = node.poll_timeout()
            node._deadline_stale = True
            assert node.poll_timeout() == cached, (sn.name, self.now)
            type(self).checked += 1
        super()._arm(sn)


@pytest.mark.parametrize(("scenario", "loss"), [("flaky", 0.05), ("churn", 0.0),
                                                ("partition", 0.0), ("crash", 0.0)])
def test_a_nodes_cached_deadline_is_always_the_fresh_one(scenario: str, loss: float,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.run, "Cluster", _DeadlineCheckingCluster)
    _DeadlineCheckingCluster.checked = 0
    rep = run(Options(nodes=12, agents_per_node=3, duration=60.0, loss=loss, scenario=scenario,
                      seed=5))
    assert all(rep["checks"].values())
    assert _DeadlineCheckingCluster.checked > 10_000


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_two_workers_split_the_nodes_and_agree(scenario: str) -> None:
    """Half of the nodes in a forked process: the checks hold and a seed replays exactly."""
    o = Options(nodes=16, agents_per_node=2, duration=40.0, loss=0.05, scenario=scenario,
                seed=3, workers=2)
    a, b = run(o), run(o)
    assert all(a["checks"].values()), (o.command(), a["checks"])
    assert a["false_dead"] == 0 and a["propagation_s"]["count"] > 5
    if scenario == "crash":
        assert a["detection_s"]["all"] is not None
    assert a["workers"] == 2
    a.pop("wall_s")
    b.pop("wall_s")
    assert a == b


def test_two_workers_run_the_same_whatever_their_sub_windows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """How far one worker may run ahead of the other changes when each waits, not what is
    simulated: the same report with sub-windows of another size (a packet that came too late
    for its time would raise)."""
    o = Options(nodes=16, agents_per_node=2, duration=30.0, loss=0.1, scenario="flaky",
                seed=5, workers=2)
    a = run(o)
    monkeypatch.setattr(sim.run, "SUB_WINDOW", 0.3)
    b = run(o)
    a.pop("wall_s")
    b.pop("wall_s")
    assert a == b


def test_a_failing_worker_is_reported_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sim.workload.Workload.work
    lead = os.getpid()  # worker 0; worker 1 is its fork

    def failing_in(worker: int) -> Any:
        def work(self: sim.workload.Workload, who: str, draw: float, seq: int) -> None:
            if (os.getpid() == lead) == (worker == 0):
                raise ValueError("boom")
            real(self, who, draw, seq)
        return work

    monkeypatch.setattr(sim.workload.Workload, "work", failing_in(1))
    with pytest.raises(RuntimeError, match="worker"):
        run(Options(nodes=8, agents_per_node=1, duration=20.0, scenario="steady", seed=1,
                    workers=2))
    monkeypatch.setattr(sim.workload.Workload, "work", failing_in(0))
    with pytest.raises(ValueError, match="boom"):  # and worker 1 is not left spinning
        run(Options(nodes=8, agents_per_node=1, duration=20.0, scenario="steady", seed=1,
                    workers=2))


def test_same_seed_same_report() -> None:
    o = Options(nodes=8, agents_per_node=2, duration=40.0, loss=0.1, scenario="flaky", seed=3)
    a, b = run(o), run(o)
    a.pop("wall_s")
    b.pop("wall_s")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_cli_writes_json_and_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--nodes", "6", "--duration", "30", "--scenario",
         "crash", "--seed", "2", "--quiet", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed 2" in proc.stdout and "crash detection" in proc.stdout
    rep = json.loads(out.read_text())
    for key in ("seed", "nodes", "propagation_s", "propagation_rounds", "detection_s",
                "false_dead", "bytes_per_node_per_s", "wall_s", "checks"):
        assert key in rep
    assert set(rep["propagation_s"]) >= {"p50", "p99", "max"}
    assert set(rep["detection_s"]) == {"first", "all"}


fault = st.one_of(
    st.tuples(st.just("partition"), st.floats(0.2, 0.8), st.floats(5, 40)),
    st.tuples(st.just("loss"), st.floats(0.0, 0.2), st.floats(5, 30)),
    st.tuples(st.just("crash"), st.floats(0, 1), st.floats(0, 0)),
    st.tuples(st.just("restart"), st.floats(0, 1), st.floats(2, 20)),
    st.tuples(st.just("pause"), st.floats(0, 1), st.floats(0.5, 20)),
)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(3, 30), faults=st.lists(fault, min_size=1, max_size=4),
       seed=st.integers(0, 2**31), model=st.sampled_from(["tcp", "datagram"]))
def test_converges_after_any_fault_schedule(n: int, faults: list[tuple[str, float, float]],
                                            seed: int, model: str) -> None:
    cfg = NodeConfig.lan(heartbeat_timeout=None, auto_deregister_timeout=3600.0)
    c = Cluster(seed, cfg, NetOptions(model=model), keep_events=False)
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(n)]
    c.add_node("n0")
    for name in names[1:]:
        c.add_node(name, ["n0"])
    c.run_for(5.0)
    for i, name in enumerate(names):
        c.node(name).register(make_record(f"a{i}", "A", f"rt{i}", ["x"]), c.now, wall=c.wall(name))
        c.run_for(0.0)
    down: set[str] = set()
    for kind, x, length in faults:
        c.run_for(rng.uniform(1, 10))
        others = [m for m in names[1:] if m not in down]
        if kind == "partition":
            cut = max(1, int(n * x))
            c.partition(names[:cut], names[cut:])
            c.run_for(length)
            c.repair()
        elif kind == "loss":
            c.net.loss = x
            c.run_for(length)
            c.net.loss = 0.0
        elif kind == "crash" and others:
            victim = others[int(x * len(others)) % len(others)]
            c.crash(victim)
            down.add(victim)
        elif kind == "restart" and others:
            victim = others[int(x * len(others)) % len(others)]
            c.crash(victim)
            c.run_for(length)
            c.restart(victim, ["n0"])
        elif kind == "pause" and others:
            victim = others[int(x * len(others)) % len(others)]
            c.pause(victim)
            c.run_for(length)
            c.resume(victim)
        note(f"t={c.now:.1f} {kind} x={x:.2f} len={length:.1f}")
    # After the last fault heals, everything must agree within this bound: re-contact of a
    # dead member + a full anti-entropy period + the longest suspicion + slack.
    hi = suspicion_timeout_bounds(cfg.suspicion_mult, cfg.suspicion_max_timeout_mult, n,
                                  cfg.probe_interval)[1]
    bound = convergence_bound(cfg.reconnect_interval, push_pull_scale(cfg.push_pull_interval, n),
                              hi, slack=15.0)
    took = c.run_until_true(
        lambda: c.members_agree() and c.replicas_equal() and c.all_alive_everywhere(),
        bound, step=1.0)
    assert took is not None, (f"seed={seed} n={n} faults={faults}: not converged within "
                              f"{bound:.0f} s")


def _three_converged() -> Cluster:
    c = Cluster(3, NodeConfig.local(heartbeat_timeout=None))
    c.add_node("n0")
    c.add_node("n1", ["n0"])
    c.add_node("n2", ["n0"])
    c.node("n1").register(make_record("a1", "A", "rt", ["x"]), c.now, wall=c.wall("n1"))
    c.drain(c.nodes["n1"])
    assert c.run_until_true(lambda: combine([summarise(c)]).all, 20.0) is not None
    return c


def test_each_check_answers_its_own_question() -> None:
    c = _three_converged()
    assert combine([summarise(c)]) == Checks(True, True, True)
    # A registration that one node cannot see yet: replicas differ, it is not visible
    # everywhere, and the member tables still agree.
    c.partition({"n0", "n1"}, {"n2"})
    c.node("n0").register(make_record("a2", "B", "rt", ["y"]), c.now, wall=c.wall("n0"))
    c.drain(c.nodes["n0"])
    c.run_for(0.2)
    assert combine([summarise(c)]) == Checks(False, True, False)
    c.repair()
    assert c.run_until_true(lambda: combine([summarise(c)]).all, 30.0) is not None
    # A crash nobody has noticed yet: replicas and visibility agree, member tables do not
    # (every survivor still holds n2 ALIVE).
    c.crash("n2")
    assert combine([summarise(c)]) == Checks(True, False, True)


def test_checks_combine_worker_summaries() -> None:
    c = _three_converged()
    whole = summarise(c)
    other = whole._replace(registered=whole.registered | {"ghost"})
    assert combine([whole, other]) == Checks(True, True, False)
    assert combine([whole, whole._replace(versions=None)]).replicas_equal is False
    assert combine([whole, whole._replace(members_ok=False)]).member_tables_agree is False
