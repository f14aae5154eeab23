"""The directory replica is a CRDT: merge order, grouping and repetition do not matter, and any
exchange pattern followed by full rounds converges to the reference model."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from gossipreg.core.replica.owner_state import OwnerState
from gossipreg.core.replica.store import OwnerDelta, Replica, Write

KEYS = [f"{p}a{i}" for p in ("agent/", "hb/", "status/") for i in range(4)]
OWNERS = ["o1", "o2", "o3"]

# An owner operation: (owner, kind, key, value); kind is write / delete / restart.
op = st.tuples(
    st.sampled_from(OWNERS),
    st.sampled_from(["write", "write", "write", "delete", "restart"]),
    st.sampled_from(KEYS),
    st.integers(0, 99),
)


class Owners:
    """Real owner replicas producing writes, plus the reference model of the final state."""

    def __init__(self) -> None:
        self.reps = {o: Replica(o, 1, tombstone_ttl=100.0) for o in OWNERS}
        self.writes: list[Write] = []

    def apply(self, ops: list[tuple[str, str, str, int]], now: float) -> None:
        for owner, kind, key, value in ops:
            rep = self.reps[owner]
            if kind == "restart":
                self.reps[owner] = Replica(owner, rep.generation + 1, tombstone_ttl=100.0)
            elif kind == "delete":
                w = rep.delete(key, now)
                if w is not None:
                    self.writes.append(w)
            else:
                self.writes.append(rep.write(key, [value]))

    def model(self) -> dict[str, tuple[int, dict[str, tuple[int, Any]]]]:
        out = {}
        for o, rep in self.reps.items():
            live = rep.live_state().get(o)
            if live is not None:
                out[o] = live
        return out


def full_rounds(reps: list[Replica], sources: list[Replica], now: float,
                rng: random.Random, budget: int = 1 << 20) -> None:
    """Pairwise digest -> delta exchanges until nothing changes."""
    everyone = reps + sources
    for _ in range(50):
        changed = False
        for a in reps:
            for b in everyone:
                if a is b:
                    continue
                before = a.state()
                a.apply_delta(b.delta_for(a.digest(), budget, rng), now)
                changed |= a.state() != before
        if not changed:
            return
    raise AssertionError("exchanges did not quiesce")


@settings(max_examples=120, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=40), seed=st.integers(0, 2**32),
       budget=st.sampled_from([40, 120, 1 << 20]), gc=st.booleans())
@example(ops=[("o1", "write", "agent/a0", 0), ("o2", "write", "agent/a0", 0),
              ("o1", "write", "agent/a0", 0), ("o2", "write", "agent/a0", 0),
              ("o1", "write", "agent/a0", 0), ("o1", "write", "agent/a1", 0),
              ("o1", "delete", "agent/a1", 0), ("o1", "write", "agent/a0", 0),
              ("o1", "write", "agent/a0", 0), ("o1", "write", "agent/a0", 0),
              ("o1", "write", "agent/a0", 0), ("o1", "delete", "agent/a1", 0)],
         seed=124189882, budget=40, gc=True)  # a tombstone above the watermark was collected
def test_any_exchange_order_converges_to_model(ops: list[tuple[str, str, str, int]], seed: int,
                                               budget: int, gc: bool) -> None:
    rng = random.Random(seed)
    owners = Owners()
    half = len(ops) // 2
    owners.apply(ops[:half], now=0.0)
    peers = [Replica(f"p{i}", 1, tombstone_ttl=100.0) for i in range(3)]
    # Fast path: a random subset of writes, shuffled, some duplicated, some dropped.
    for w in rng.sample(owners.writes, len(owners.writes)) * 2:
        if rng.random() < 0.6:
            rng.choice(peers).apply_write(w, 1.0)
    # Slow path with small budgets between random pairs.
    for _ in range(10):
        a, b = rng.sample(peers + list(owners.reps.values()), 2)
        a.apply_delta(b.delta_for(a.digest(), budget, rng), 2.0)
    owners.apply(ops[half:], now=3.0)
    for w in owners.writes:
        if rng.random() < 0.3:
            rng.choice(peers).apply_write(w, 4.0)
    now = 4.0
    if gc:
        now = 500.0
        for r in peers + list(owners.reps.values()):
            r.collect(now)
    # Stale writes replayed after GC must not resurrect anything.
    for w in owners.writes:
        if rng.random() < 0.3:
            rng.choice(peers).apply_write(w, now)
    full_rounds(peers, list(owners.reps.values()), now, rng, budget)
    want = owners.model()
    for p in peers:
        got = {o: v for o, v in p.live_state().items() if o in want or o in OWNERS}
        note(f"peer {p.self_id}: {got}")
        assert got == want


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=30), seed=st.integers(0, 2**32))
def test_merge_commutative_associative_idempotent(ops: list[tuple[str, str, str, int]],
                                                  seed: int) -> None:
    """Applying the same multiset of writes in any order, any grouping, any number of times
    gives the same state."""
    rng = random.Random(seed)
    owners = Owners()
    owners.apply(ops, now=0.0)
    writes = owners.writes
    a, b, c = (Replica(n, 1) for n in ("a", "b", "c"))
    for w in writes:
        a.apply_write(w, 0.0)
    for w in rng.sample(writes, len(writes)):
        b.apply_write(w, 0.0)
        if rng.random() < 0.5:
            b.apply_write(w, 0.0)  # duplicated
    # Grouping: half into a helper replica, merged in as one delta; the rest directly.
    helper = Replica("h", 1)
    split = rng.randrange(len(writes) + 1)
    for w in writes[:split]:
        helper.apply_write(w, 0.0)
    for w in reversed(writes[split:]):
        c.apply_write(w, 0.0)
    c.apply_delta(helper.delta_for(c.digest(), 1 << 20), 0.0)
    assert foreign(a) == foreign(b) == foreign(c)
    assert foreign(a) == foreign(helper) or split < len(writes)


def foreign(r: Replica) -> dict[str, Any]:
    """Everything a replica holds about other owners (its own, empty part left out)."""
    return {o: v for o, v in r.state().items() if o != r.self_id}


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=30), seed=st.integers(0, 2**32))
def test_delta_from_digest_reaches_source(ops: list[tuple[str, str, str, int]],
                                          seed: int) -> None:
    rng = random.Random(seed)
    owners = Owners()
    owners.apply(ops, now=0.0)
    source = Replica("s", 1)
    full_rounds([source], list(owners.reps.values()), 0.0, rng)
    target = Replica("t", 1)
    # The target knows a random part of what the source knows (current generations only).
    for w in owners.writes:
        if w.generation == owners.reps[w.owner].generation and rng.random() < 0.4:
            target.apply_write(w, 0.0)
    target.apply_delta(source.delta_for(target.digest(), 1 << 20, rng), 0.0)
    assert target.live_state() == source.live_state()
    # And once equal, the source has nothing more to send.
    assert all(not d.entries for d in source.delta_for(target.digest(), 1 << 20))


def test_watermark_only_moves_with_deltas() -> None:
    owner = Replica("o", 1)
    w1 = owner.write("agent/a", [1])
    w2 = owner.write("agent/b", [2])
    peer = Replica("p", 1)
    peer.apply_write(w2, 0.0)
    assert peer.digest()["o"] == (1, 0)  # a broadcast is not a watermark
    peer.apply_delta(owner.delta_for(peer.digest(), 1 << 20), 0.0)
    assert peer.digest()["o"] == (1, 2)
    assert w1.version == 1


def test_partial_delta_advances_to_last_applied() -> None:
    owner = Replica("o", 1)
    for i in range(10):
        owner.write(f"agent/a{i}", ["x" * 50])
    peer = Replica("p", 1)
    d = owner.delta_for(peer.digest(), 200)
    assert not d[0].complete and 0 < len(d[0].entries) < 10
    peer.apply_delta(d, 0.0)
    assert peer.digest()["o"] == (1, d[0].entries[-1][1])


def test_newer_generation_replaces_older_state() -> None:
    old = Replica("o", 1)
    old.write("agent/a", [1])
    peer = Replica("p", 1)
    peer.apply_delta(old.delta_for({}, 1 << 20), 0.0)
    new = Replica("o", 2)
    new.write("agent/b", [2])
    changed = peer.apply_delta(new.delta_for(peer.digest(), 1 << 20), 0.0)
    assert ("o", "agent/a") in [c[:2] for c in changed]
    assert peer.live_state() == {"o": (2, {"agent/b": (1, [2])})}
    # A late write of the old generation is ignored.
    assert peer.apply_write(Write("o", 1, "agent/c", 5, False, [3]), 0.0) == []


def test_gc_horizon_sends_manifest_and_drops_deleted_keys() -> None:
    owner = Replica("o", 1, tombstone_ttl=10.0)
    owner.write("agent/a", [1])
    owner.write("agent/b", [2])
    peer = Replica("p", 1, tombstone_ttl=10.0)
    peer.apply_delta(owner.delta_for(peer.digest(), 1 << 20), 0.0)
    owner.write("agent/c", [3])
    owner.delete("agent/a", 1.0)
    assert owner.collect(100.0) == 1
    d = owner.delta_for(peer.digest(), 1 << 20)
    assert isinstance(d[0], OwnerDelta) and d[0].manifest is not None
    peer.apply_delta(d, 100.0)
    assert peer.live_state() == owner.live_state()


def test_a_watermark_passed_on_after_collection_carries_the_floor_with_it() -> None:
    """Found by the convergence property: a peer that first heard of an owner after the owner
    collected a tombstone takes the owner's watermark without the tombstone; it must still make
    a peer holding the deleted key drop it (with a manifest, as the owner would)."""
    owner = Replica("o", 1, tombstone_ttl=10.0)
    w = owner.write("agent/a", [1])
    behind, relay = Replica("b", 1, tombstone_ttl=10.0), Replica("r", 1, tombstone_ttl=10.0)
    behind.apply_write(w, 0.0)  # the deletion never reaches it
    owner.delete("agent/a", 1.0)
    assert owner.collect(100.0) == 1
    relay.apply_delta(owner.delta_for(relay.digest(), 1 << 20), 100.0)
    assert relay.digest()["o"] == owner.digest()["o"] and not relay.keys_of("o")
    behind.apply_delta(relay.delta_for(behind.digest(), 1 << 20), 100.0)
    assert behind.live_state() == owner.live_state() == {}


def test_tombstones_beyond_the_cap_are_collected_early_and_a_lagging_peer_still_converges() -> None:
    owner = Replica("o", 1, tombstone_ttl=3600.0, max_tombstones=5)
    lagging = Replica("p", 1)
    for i in range(12):
        owner.write(f"agent/a{i}", [i])
    lagging.apply_delta(owner.delta_for(lagging.digest(), 1 << 20), 0.0)  # sees all 12 live
    for i in range(10):
        owner.delete(f"agent/a{i}", now=1.0)
    # Long before the TTL, only the 5 newest tombstones are kept (memory bounded by the cap).
    assert owner.collect(now=2.0) == 5
    assert len(owner) == 2 + 5
    assert owner.collect(now=3.0) == 0
    # The peer never saw the deletions: it is behind the floor, gets a manifest, drops them.
    lagging.apply_delta(owner.delta_for(lagging.digest(), 1 << 20), 4.0)
    assert lagging.live_state() == owner.live_state()
    assert set(lagging.live_state()["o"][1]) == {"agent/a10", "agent/a11"}


def test_a_tombstone_above_the_watermark_outlives_its_ttl_until_the_watermark_passes_it() -> None:
    """Found by the convergence property: a peer with a hole below a deletion (it got the
    tombstone by broadcast, not the writes before it) that collected the tombstone took a
    replayed older write of the key back, and its watermark then passed the deletion over the
    versions the tombstone had settled: the deleted key stayed for good."""
    owner = Replica("o", 1, tombstone_ttl=10.0)
    first = owner.write("agent/x", [0])
    write = owner.write("agent/a", [1])
    tomb = owner.delete("agent/a", 1.0)
    assert tomb is not None
    peer = Replica("p", 1, tombstone_ttl=10.0)
    peer.apply_write(tomb, 1.0)
    assert peer.digest()["o"] == (1, 0)  # version 1 is missing: the watermark waits for it
    assert peer.collect(100.0) == 0  # past its TTL, yet kept
    assert peer.apply_write(write, 100.0) == []  # the replayed write stays stale
    peer.apply_write(first, 100.0)
    assert peer.digest()["o"] == (1, 3)
    assert peer.collect(100.0) == 1  # the watermark passed it: older writes are stale anyway
    assert peer.apply_write(write, 100.0) == []
    assert peer.live_state() == owner.live_state() == {"o": (1, {"agent/x": (1, [0])})}


def test_a_tombstone_above_the_watermark_collected_for_the_cap_is_passed_by_a_delta_only() -> None:
    owner = Replica("o", 1, tombstone_ttl=3600.0)
    first = owner.write("agent/x", [0])
    write = owner.write("agent/a", [1])
    tomb = owner.delete("agent/a", 1.0)
    assert tomb is not None
    peer = Replica("p", 1, tombstone_ttl=3600.0, max_tombstones=0)
    peer.apply_write(tomb, 1.0)
    assert peer.collect(2.0) == 1  # the cap wins: memory stays bounded
    peer.apply_write(write, 2.0)  # taken back for now: nothing says it is stale
    peer.apply_write(first, 2.0)
    assert peer.digest()["o"][1] < 3  # the collected deletion is not settled any more
    peer.apply_delta(owner.delta_for(peer.digest(), 1 << 20), 3.0)
    assert peer.live_state() == owner.live_state() == {"o": (1, {"agent/x": (1, [0])})}


def test_settled_versions_stay_above_the_watermark_after_it_jumps() -> None:
    st = OwnerState(1)
    st.settle([3, 5, 6, 9])  # a hole at 1-2: nothing advances
    assert st.watermark == 0 and st.settled == {3, 5, 6, 9}
    st.watermark = 5  # a delta covered everything up to 5
    st.settle([7])
    assert st.watermark == 7 and st.settled == {9}
    st.settle([8])
    assert st.watermark == 9 and st.settled == set()


def test_a_write_replayed_after_its_deletion_was_collected_stays_deleted() -> None:
    # A peer behind a hole (it missed v1) gets the deletion of agent/a1 (v3, superseding v2);
    # the old write v2 comes again, before and after the tombstone's time: it stays deleted.
    owner = Replica("o", 1, tombstone_ttl=10.0)
    owner.write("agent/a0", [0])  # v1, never delivered: the peer's watermark stays at 0
    w2 = owner.write("agent/a1", [1])
    w3 = owner.delete("agent/a1", 0.0)
    assert w3 is not None and w3.supersedes == (w2.version,)
    peer = Replica("p", 1, tombstone_ttl=10.0)
    peer.apply_write(w3, 0.0)
    assert peer.apply_write(w2, 1.0) == []
    assert peer.collect(100.0) == 0  # the hole is open: the tombstone is all that says so
    assert peer.apply_write(w2, 100.0) == []
    assert peer.live_state().get("o", (1, {}))[1] == {}
    peer.apply_delta(owner.delta_for(peer.digest(), 1 << 20), 101.0)  # the hole closes
    assert peer.collect(102.0) == 1
    assert peer.apply_write(w2, 102.0) == []  # below the watermark now
    assert peer.live_state() == owner.live_state()
