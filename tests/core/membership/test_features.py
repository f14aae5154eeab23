"""Feature bits: every member learns what every other running generation understands."""

from __future__ import annotations

from gossipreg.core.config import NodeConfig
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.types import MemberState
from gossipreg.core.wire.messages import FEATURES, Feature, Features, encode, parse
from sim.cluster import Cluster

# What the simulator's nodes announce: this release's bits and their transport's two paths.
ANNOUNCED = int(FEATURES | Feature.DATAGRAM | Feature.STREAM)


def _features(c: Cluster, name: str) -> dict[str, int]:
    return {m.node_id: m.features for m in c.node(name).read.members()}


def test_every_node_learns_every_members_features_through_one_seed() -> None:
    c = Cluster(seed=3, config=NodeConfig.lan())
    c.add_node("n0")
    for i in range(1, 6):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, timeout=10.0) is not None
    want = {f"n{i}": ANNOUNCED for i in range(6)}
    took = c.run_until_true(lambda: all(_features(c, n) == want for n in c.live()), timeout=30.0)
    assert took is not None, {n: _features(c, n) for n in c.live()}


def test_a_restart_forgets_the_old_generations_features_until_the_new_one_announces() -> None:
    c = Cluster(seed=4, config=NodeConfig.lan())
    c.add_node("n0")
    c.add_node("n1", seeds=["n0"])
    c.add_node("n2", seeds=["n0"])
    assert c.run_until_true(lambda: _features(c, "n0").get("n2") == ANNOUNCED, timeout=30.0)
    table = c.node("n0").read.members()
    old_gen = next(m.generation for m in table if m.node_id == "n2")
    c.crash("n2")
    c.restart("n2", seeds=["n0"])

    def relearned() -> bool:
        row = next((m for m in c.node("n0").read.members() if m.node_id == "n2"), None)
        return (row is not None and row.generation > old_gen
                and row.state is MemberState.ALIVE and row.features == ANNOUNCED)

    assert c.run_until_true(relearned, timeout=30.0) is not None


def test_features_rows_round_trip_and_ignore_what_they_do_not_know() -> None:
    msg = Features((("n1", 7, int(Feature.EXTENSIBLE)), ("n2", 1, 0)))
    assert parse(encode(msg)) == msg
    future = encode(msg)
    future[1][0].append("a later field")
    future.append(None)  # the sender's signed Alive (issue 24): none here
    future.append({"later": True})
    assert parse(future) == msg


def test_a_joiners_features_reach_the_seed_before_its_answer() -> None:
    """A joiner's features table goes just before its join, while the seed does not know it
    yet: the seed keeps the row and answers in the full form (signed entries with their
    proofs), not the first-release one."""
    from gossipreg.core.membership.table import _EARLY_MAX, MemberTable

    t = MemberTable("me", "10.0.0.1:1", 1, 0.0)
    assert not t.set_features("j", 3, int(FEATURES))  # not a member yet: kept
    t.alive("j", "10.0.0.2:1", 3, 0, 0.0)
    m = t.get("j")
    assert m is not None and m.features_known and m.understands(int(FEATURES))
    # Another generation's early row does not stick to the member that is added.
    t.set_features("k", 1, int(FEATURES))
    t.alive("k", "10.0.0.3:1", 2, 0, 0.0)
    k = t.get("k")
    assert k is not None and not k.features_known
    # Bounded: a flood of unknown names keeps at most _EARLY_MAX of them.
    for i in range(_EARLY_MAX * 3):
        t.set_features(f"x{i}", 1, 1)
    assert len(t._early) <= _EARLY_MAX


def test_known_feature_rows_are_dropped_before_parsing_and_news_is_not() -> None:
    t = MemberTable("me", "me:1", 1, 0.0)
    t.alive("n1", "n1:1", 5, 0, 0.0)
    t.set_features("n1", 5, 7)
    held = t.features_held
    assert held([["n1", 5, 7]])  # what we hold
    assert held([["n1", 4, 1], ["me", 1, 99]])  # older, us
    assert not held([["stranger", 1, 3]])  # a name not yet a member: kept until added
    assert not held([["n1", 5, 3]])  # other bits for the running generation: news
    assert not held([["n1", 6, 7]])  # a newer generation's: news
    assert not held([["n1", "5", 7]]) and not held("rows") and not held([["n1"]])  # unsure


def test_a_node_counts_a_known_features_message_as_a_duplicate() -> None:
    c = Cluster(seed=5, config=NodeConfig.lan())
    c.add_node("n0")
    c.add_node("n1", seeds=["n0"])
    assert c.run_until_true(lambda: _features(c, "n0").get("n1") == ANNOUNCED, 30.0)
    n0 = c.node("n0")
    before = n0.read.metrics().duplicates_in
    msg = Features((("n1", c.nodes["n1"].generation, ANNOUNCED),))
    frame = n0.codec.encode("n1", "n1", [encode(msg)])
    n0.handle_packet(frame, c.now, wall=c.wall("n0"))
    assert n0.read.metrics().duplicates_in == before + 1
