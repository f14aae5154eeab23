"""Owner signatures on the simulator's virtual clock (stub signatures, the real checks): a
signing mesh converges; a status set through another node is the owner's write and survives the
restart of the node it went through; forged writes, Alives, generations, relayed manifests and
replays are refused and counted by reason; a rotation keeps the name, a new key without one is
refused until an operator forgets the pin; a flood of bad signatures is rate-limited.

Deterministic: seeds, virtual time, no sockets."""

from __future__ import annotations

from typing import Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.directory import Pending
from gossipreg.core.directory.records import RECORD_VALUES, Heartbeat, make_record
from gossipreg.core.node import Node
from gossipreg.core.trust.proofs import Identity, Payloads, StubSigner, StubVerifier
from gossipreg.core.trust.verdicts import GLOBAL_BURST, SOURCE_BURST
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.fields import MemberRow, OwnerDelta, Proof, Write
from gossipreg.core.wire.messages import (
    Alive,
    Left,
    Message,
    Request,
    Suspect,
    SyncAck,
    WriteMsg,
    encode,
    encode_first_release,
    parse,
)
from sim.cluster import Cluster

RV = RECORD_VALUES
NAMES = ("n0", "n1", "n2", "n3")
CARD = {"name": "X", "url": "http://10.0.0.1:9/rpc", "skills": [
    {"id": "s", "name": "S", "description": "d", "tags": ["t"]}]}


def mesh(seed: int = 3, **cfg: Any) -> Cluster:
    c = Cluster(seed=seed, config=NodeConfig.lan(heartbeat_timeout=None, **cfg), signing=True)
    c.add_node("n0")
    for n in NAMES[1:]:
        c.add_node(n, ["n0"])
    assert within(c, lambda: c.all_alive_everywhere() and pinned_everywhere(c), 30.0)
    return c


def within(c: Cluster, cond: Any, timeout: float) -> bool:
    return c.run_until_true(cond, timeout) is not None


def pinned_everywhere(c: Cluster) -> bool:
    return all(set(c.node(n).pinned()[0]) == set(c.live()) - {n} for n in c.live())


def drops(c: Cluster, n: str, since: dict[str, int] | None = None) -> dict[str, int]:
    """The drop counters of ``n`` that moved (since ``since``), but the unsigned rows that
    joins and restarts bring (first-release forms until a peer's features are known)."""
    was = since or {}
    return {k: v - was.get(k, 0) for k, v in c.node(n).metrics.dropped.items()
            if v - was.get(k, 0) and k != "unsigned_member"}


def register(c: Cluster, owner: str, aid: str, url: str = "http://10.0.0.1:9/rpc") -> None:
    c.node(owner).register(make_record(aid, aid, f"rt-{owner}", card={**CARD, "url": url}),
                           c.now, wall=c.wall(owner))
    assert within(c, lambda: all(c.node(n).read.get(aid) for n in c.live()), 5.0)


def endpoint(c: Cluster, n: str, aid: str) -> str | None:
    v = c.node(n).read.get(aid)
    return None if v is None else v.record.endpoints[0].url


def inject(c: Cluster, dest: str, *msgs: Message, src: str = "h", addr: str = "h") -> None:
    """A frame built with the cluster's codec (what any holder of the cluster key can do)."""
    frame = Codec(c.config.cluster).encode(src, addr, [encode(m, RV) for m in msgs])
    c.node(dest).handle_packet(frame, c.now, addr, wall=c.wall(dest))
    c.drain(c.nodes[dest])


def entry_write(c: Cluster, owner: str, key: str) -> Write:
    """The signed write ``owner`` made of ``key``, rebuilt from its replica (what a relay
    holds and an attacker can record)."""
    node = c.node(owner)
    e = node.dir.replica.get(owner, key)
    assert e is not None and e.sig is not None
    return Write(owner, node.generation, key, e.version, e.deleted, e.value, e.sup, e.sig)


# --------------------------------------------------------------------------- shapes
def test_signed_shapes_round_trip_and_first_release_forms_carry_no_signature() -> None:
    key, sig = bytes(range(32)), bytes(range(64))
    proof = Proof(key, sig, bytes(64))
    w = Write("n1", 3, "hb/a", 7, True, None, (5,), sig)
    msgs: list[Message] = [
        Alive("n1", "127.0.0.1:1", 3, 2, proof), Left("n1", 3, 2, sig), WriteMsg(w),
        Request(4, "status", "a", ("degraded", "slow")),
        SyncAck(1, (OwnerDelta("n1", 3, 0, 7, (("hb/a", 7, True, None),), True,
                               (("hb/a", 7),), 0, ((sig, (5,)),), sig),), None,
                (MemberRow("n1", "127.0.0.1:1", 3, 2, MemberState.ALIVE, proof),), False),
    ]
    for m in msgs:
        assert parse(encode(m, RV), RV) == m
    old = encode_first_release(Alive("n1", "127.0.0.1:1", 3, 2, proof))
    assert old == [5, "n1", "127.0.0.1:1", 3, 2]
    assert encode_first_release(Left("n1", 3, 2, sig)) == [8, "n1", 3, 2]
    first = encode_first_release(msgs[4], RV)
    assert first is not None
    assert first[2][0][5] == [["hb/a", 7, True, None]] and len(first[2][0]) == 8
    assert first[4] == [["n1", "127.0.0.1:1", 3, 2, 0]]


# ------------------------------------------------------------------------ the mesh
def test_a_signing_mesh_converges_and_a_new_cluster_requires_signatures() -> None:
    c = mesh()
    for n in NAMES:
        node = c.node(n)
        assert node.trust is not None and node.trust.required  # n0 started it; the rest adopt
        assert drops(c, n) == {}, (n, drops(c, n))
    register(c, "n1", "x")
    assert all(endpoint(c, n, "x") == "http://10.0.0.1:9/rpc" for n in NAMES)
    assert all(drops(c, n) == {} for n in NAMES)


def test_a_status_set_through_another_node_is_the_owners_and_survives_its_restart() -> None:
    c = mesh()
    register(c, "n1", "x")
    out = c.node("n2").set_status("x", AgentStatus.DEGRADED, c.now, "slow", wall=c.wall("n2"))
    assert isinstance(out, Pending)
    assert within(c, lambda: all(c.node(n).read.get("x").status is AgentStatus.DEGRADED
                                        for n in NAMES), 5.0)
    # Written under the owner's key, by the owner: no status key of n2's anywhere.
    assert all(c.node(n).dir.replica.get("n2", "status/x") is None for n in NAMES)
    assert c.node("n1").dir.replica.get("n1", "status/x") is not None
    c.crash("n2")
    c.restart("n2", ["n0"])
    assert within(c, lambda: c.all_alive_everywhere(), 30.0)
    assert within(c, lambda: c.node("n2").read.get("x") is not None, 10.0)
    assert all(c.node(n).read.get("x").status is AgentStatus.DEGRADED for n in NAMES)


# ------------------------------------------------------------------------ attacks
def test_writes_in_the_owners_name_are_refused_and_counted() -> None:
    c = mesh()
    register(c, "n1", "x")
    gen = c.node("n1").generation
    good = entry_write(c, "n1", "agent/x")
    evil = good.value._replace(card_json=None, endpoints=())
    forged = [
        Write("n1", gen, "agent/x", 50, False, evil, (good.version,)),  # unsigned
        Write("n1", gen, "agent/x", 51, False, evil, (good.version,), good.sig),  # not its sig
        Write("n1", gen, "agent/x", 52, True, "deregistered", (good.version,), bytes(64)),
        Write("n1", gen, "hb/x", 53, True, None, (), bytes(64)),
    ]
    for n in ("n0", "n2", "n3"):
        inject(c, n, *(WriteMsg(w) for w in forged))
        assert drops(c, n) == {"unsigned_write": 1, "bad_signature": 3}, drops(c, n)
    c.run_for(2.0)
    assert all(endpoint(c, n, "x") == "http://10.0.0.1:9/rpc" for n in NAMES)


def test_replays_cannot_roll_state_back() -> None:
    c = mesh()
    register(c, "n1", "x", "http://old:1/")
    old = entry_write(c, "n1", "agent/x")
    assert c.node("n1").deregister("x", c.now, wall=c.wall("n1")) is True
    c.run_for(2.0)
    register(c, "n1", "x", "http://new:1/")
    before = {n: c.node(n).metrics.duplicates_in for n in NAMES}
    for n in ("n0", "n2", "n3"):
        inject(c, n, WriteMsg(old))  # a valid signature, an older version: known news
        assert c.node(n).metrics.duplicates_in == before[n] + 1
    assert all(endpoint(c, n, "x") == "http://new:1/" for n in NAMES)
    # After a restart of its owner (same key, a new generation), a record of the previous
    # generation is a replay too.
    current = entry_write(c, "n1", "agent/x")
    c.crash("n1")
    c.restart("n1", ["n0"])
    assert within(c, lambda: all(
        c.node(n).read.get("x") is None for n in NAMES), 10.0)
    register(c, "n1", "x", "http://newer:1/")
    for n in ("n0", "n2", "n3"):
        was = dict(c.node(n).metrics.dropped)
        inject(c, n, WriteMsg(current))
        assert drops(c, n, was) == {"old_generation": 1}, drops(c, n, was)
    assert all(endpoint(c, n, "x") == "http://newer:1/" for n in NAMES)


def test_forged_alives_generations_and_suspicions_are_refused() -> None:
    c = mesh()
    register(c, "n1", "x")
    m = c.node("n0").members.get("n1")
    assert m is not None
    gen, inc = m.generation, m.incarnation
    mine = StubSigner(b"attacker")
    pay = Payloads(c.config.cluster)
    new_addr = pay.alive("n1", "h", gen, inc + 1, mine.public_key)
    attacks: list[Message] = [
        Alive("n1", "h", gen, inc + 1),  # unsigned
        Alive("n1", "h", gen, inc + 1, Proof(mine.public_key, mine.sign(new_addr))),  # its key
        Alive("n1", "h", gen + 1, 0, Proof(mine.public_key, mine.sign(pay.alive(
            "n1", "h", gen + 1, 0, mine.public_key)), mine.sign(b"no"))),  # a fake rotation
        Suspect("n1", gen + 1, 0, "h"),  # a generation its Alive never announced
        WriteMsg(Write("n1", gen + 1, "agent/x", 1, True, "deregistered", (),
                       c.identity("n1").signer.sign(b"x"))),  # a newer generation's write
        Left("n1", gen, inc, bytes(64)),
    ]
    for n in ("n0", "n2", "n3"):
        was = dict(c.node(n).metrics.dropped)
        inject(c, n, *attacks)
        moved = {k: v - was.get(k, 0) for k, v in c.node(n).metrics.dropped.items()
                 if v != was.get(k, 0)}
        assert moved == {"unsigned_member": 1, "key_mismatch": 2, "ahead_of_alive": 1,
                         "unknown_generation": 1, "bad_signature": 1}, moved
    c.run_for(3.0)
    for n in ("n0", "n2", "n3"):
        m = c.node(n).members.get("n1")
        assert m is not None and (m.addr, m.generation, m.state) == ("n1", gen,
                                                                     MemberState.ALIVE)
    assert all(endpoint(c, n, "x") == "http://10.0.0.1:9/rpc" for n in NAMES)


def test_a_relays_manifest_deletes_nothing_and_a_non_owners_status_is_refused() -> None:
    c = mesh()
    register(c, "n1", "x")
    gen = c.node("n1").generation
    wm = c.node("n0").dir.replica.digest()["n1"][1]
    delta = OwnerDelta("n1", gen, 0, wm + 100, (), True, (), wm + 100)  # "n1 holds nothing"
    inject(c, "n0", SyncAck(99, (delta,), None, None, False))
    assert drops(c, "n0") == {"relayed_manifest": 1}
    assert c.node("n0").read.get("x") is not None
    assert c.node("n0").dir.replica.digest()["n1"][1] == wm  # the watermark did not move
    # A member with an identity of its own writes a status about n1's agent in its own name.
    n3 = c.node("n3")
    n3.dir._set_status("x", AgentStatus.UNHEALTHY, c.now, "mine")
    c.run_for(3.0)
    for n in ("n0", "n1", "n2"):
        assert drops(c, n).get("not_owner", 0) >= 1, drops(c, n)
        assert c.node(n).read.get("x").status is AgentStatus.ACTIVE


def test_rotation_keeps_the_name_and_a_new_key_without_one_is_refused() -> None:
    c = mesh()
    register(c, "n1", "x")
    old = c.identity("n1").signer
    new = StubSigner(b"n1, rotated")
    rot = old.sign(Payloads(c.config.cluster).rotation("n1", new.public_key))
    c.node("n1").rotate_identity(Identity(new, StubVerifier(), rot), c.now)
    assert within(c, lambda: all(c.node(n).pinned()[0].get("n1") == new.public_key
                                        for n in NAMES if n != "n1"), 5.0)
    register(c, "n1", "y")  # written with the new key
    assert all(drops(c, n) == {} for n in NAMES), {n: drops(c, n) for n in NAMES}
    # n2 comes back with another key and no rotation: refused by every node that pinned it.
    stranger = Identity(StubSigner(b"n2, lost its key file"), StubVerifier())
    c.crash("n2")
    c.make_node = lambda *a, **kw: Node(*a, **{**kw, "identity": stranger})
    c.restart("n2", ["n0"])
    c.run_for(5.0)
    for n in ("n0", "n1", "n3"):
        m = c.node(n).members.get("n2")
        assert m is not None and m.generation == 1, (n, m and m.generation)
        assert drops(c, n).get("key_mismatch", 0) >= 1, drops(c, n)
    # The way out, on each node (an operator's call, never gossiped).
    for n in ("n0", "n1", "n3"):
        assert c.node(n).forget_node("n2")
    assert within(c, lambda: all(
        c.node(n).pinned()[0].get("n2") == stranger.signer.public_key
        and c.node(n).members.get("n2").generation == 2 for n in ("n0", "n1", "n3")), 30.0)


def test_a_flood_of_bad_signatures_is_rate_limited() -> None:
    c = mesh()
    register(c, "n1", "x")
    gen = c.node("n1").generation
    node = c.node("n0")
    assert node.trust is not None
    before = node.trust.verdicts.verifications
    flood = [WriteMsg(Write("n1", gen, "hb/x", 100 + i, False, Heartbeat(i, 1), (),
                            bytes([i]) * 64)) for i in range(200)]
    inject(c, "n0", *flood)
    spent = node.trust.verdicts.verifications - before
    assert spent == SOURCE_BURST
    assert drops(c, "n0") == {"bad_signature": SOURCE_BURST,
                              "sig_rate_limited": 200 - SOURCE_BURST}
    # Many sender names: at most one failed check each, and all of them together are bounded.
    for i in range(int(GLOBAL_BURST) + 10):
        inject(c, "n0", *flood[:3], src=f"h{i}", addr=f"h{i}")
    assert node.trust.verdicts.verifications - before - spent <= GLOBAL_BURST + 1
    # A signed write of the owner still goes through (its sender never failed).
    register(c, "n1", "y")


async def test_an_embedded_registry_signs_nothing() -> None:
    from gossipreg import AgentRegistry

    reg = AgentRegistry()
    await reg.start()
    try:
        assert reg.node.core.trust is None
        aid = await reg.register_agent(object(), "rt", capabilities=["x"])
        entry = reg.node.core.dir.replica.get(reg.node.name, f"agent/{aid}")
        assert entry is not None and entry.sig is None
    finally:
        await reg.shutdown()



def test_a_delta_with_nothing_proven_is_left_out_whole() -> None:
    """A restarted owner answers a peer whose features it has not heard yet in the unsigned
    first-release form: a delta none of whose entries is proven must not reach the replica at
    all, or its generation (newer than the one a peer holds) would replace the held state with
    nothing and every agent the owner brought back would churn (seen with real processes)."""
    c = mesh()
    register(c, "n1", "x")
    gen = c.node("n1").generation
    held = c.node("n2").dir.replica.get("n1", "agent/x")
    assert held is not None
    judge = c.node("n2").trust
    assert judge is not None
    was = dict(c.node("n2").metrics.dropped)
    unsigned = OwnerDelta("n1", gen, 0, 9, (("agent/y", 9, False, held.value),), True, None, 0)
    assert judge.filter_deltas([unsigned]) == []
    assert drops(c, "n2", was) == {"unsigned_write": 1}
    # A delta with a proven entry before the unproven one keeps the proven part.
    signed = OwnerDelta("n1", gen, 0, held.version, (("agent/x", held.version, False,
                                                      held.value),), True, None, 0,
                        ((held.sig, held.sup),))
    both = OwnerDelta("n1", gen, 0, 9, (*signed.entries, *unsigned.entries), True, None, 0,
                      (*(signed.proofs or ()), None))
    (kept,) = judge.filter_deltas([both])
    assert kept.entries == signed.entries and not kept.complete
