"""The owner's ``load/<id>`` family: the gate's rule (what matters, at most once per interval),
validation from the network, the first-release form (never sent), replication on a simulated
mesh, and removal with the agent. Virtual time only."""

from __future__ import annotations

import pytest

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.load import LoadGate, load_step, matters
from gossipreg.core.directory.records import (
    LOAD,
    RECORD_VALUES,
    Opaque,
    make_record,
    validate_value,
)
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.types import AgentLoad
from gossipreg.core.wire.fields import NO_FORM
from sim.cluster import Cluster


def test_what_matters() -> None:
    assert load_step(10) == 1 and load_step(100) == 10 and load_step(1) == 1
    old = AgentLoad(50, 100)
    assert matters(None, AgentLoad(0, 100))
    assert not matters(old, AgentLoad(55, 100))        # under a step
    assert matters(old, AgentLoad(60, 100))            # a step
    assert matters(old, AgentLoad(50, 200))            # capacity changed
    assert matters(AgentLoad(95, 100), AgentLoad(100, 100))   # crossing full
    assert matters(AgentLoad(100, 100), AgentLoad(99, 100))   # and back
    assert matters(AgentLoad(3, 100), AgentLoad(0, 100))      # becoming idle


def test_gate_writes_at_most_once_per_interval_and_keeps_the_newest() -> None:
    g = LoadGate(1.0)
    assert g.offer("a", AgentLoad(1, 10), 0.0) == AgentLoad(1, 10)
    assert g.offer("a", AgentLoad(5, 10), 0.2) is None        # held: too soon
    assert g.offer("a", AgentLoad(7, 10), 0.4) is None        # the newest is held
    assert g.next_deadline() == 1.0
    assert g.due(0.9) == []
    assert g.due(1.0) == [("a", AgentLoad(7, 10))]
    assert g.written("a") == AgentLoad(7, 10) and g.next_deadline() is None
    assert g.offer("a", AgentLoad(9, 10), 1.5) is None        # held again
    assert g.offer("a", AgentLoad(7, 10), 1.6) is None        # back under a step: dropped
    assert g.next_deadline() is None
    g.forget("a")
    assert g.written("a") is None


def test_load_values_are_validated_and_not_for_first_release_peers() -> None:
    assert validate_value("load/x", False, [3, 10]) == AgentLoad(3, 10)
    assert validate_value("load/x", True, None) is None
    for bad in ([1], [-1, 10], [1, 0], ["1", 10], [1.5, 10], "3/10", None):
        with pytest.raises(InvalidArgumentError):
            validate_value("load/x", False, bad)
    assert RECORD_VALUES.to_wire(AgentLoad(3, 10)) == [3, 10]
    assert RECORD_VALUES.first_release("load/x", AgentLoad(3, 10)) is NO_FORM
    assert RECORD_VALUES.first_release("load/x", None) is NO_FORM
    assert isinstance(validate_value("later/x", False, [1]), Opaque)  # still the rule for others


def test_load_replicates_from_the_owner_only_and_goes_with_the_agent() -> None:
    c = Cluster(seed=3, config=NodeConfig.local(heartbeat_timeout=None))
    c.add_node("n0")
    for i in (1, 2):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    c.node("n1").register(make_record("a", "A", "rt", ["x"], max_concurrency=10), c.now,
                          wall=c.wall("n1"))
    c.run_for(1.0)
    assert c.node("n2").read.load("a") is None
    assert not c.node("n2").set_load("a", 1, 10, c.now, wall=c.wall("n2"))  # not its owner
    with pytest.raises(InvalidArgumentError):
        c.node("n1").set_load("a", 1, 0, c.now, wall=c.wall("n1"))
    owner = c.node("n1")

    def writes_while(active: tuple[int, int], cap: int) -> int:
        before = owner.dir.replica.max_version("n1")
        for i in range(200):  # a busy runtime: moves 100 times a second for 2 s
            owner.set_load("a", active[i % 2], cap, c.now, wall=c.wall("n1"))
            c.run_for(0.01)
        return owner.dir.replica.max_version("n1") - before

    assert writes_while((40, 45), 100) == 1  # the first value; then under a step
    # Every move is a step at capacity 10: still at most one write per load_interval (0.2 s).
    assert writes_while((4, 5), 10) <= 2.0 / 0.2 + 1
    owner.set_load("a", 10, 10, c.now, wall=c.wall("n1"))  # full
    c.run_for(1.0)
    assert all(c.node(n).read.load("a") == AgentLoad(10, 10) for n in ("n0", "n1", "n2"))
    assert owner.read.replica_state()["n1"][1][LOAD + "a"][1] == AgentLoad(10, 10)
    assert owner.deregister("a", c.now, wall=c.wall("n1")) is True
    c.run_for(1.0)
    assert all(LOAD + "a" not in c.node(n).read.replica_state().get("n1", (0, {}))[1]
               for n in ("n0", "n1", "n2"))
