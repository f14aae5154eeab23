"""Owner signatures meet the fast paths: a relay forwards a signed write as the bytes it
received (signature included), never one that failed verification, and gives a first-release
peer the unsigned form; a node alone makes no Write to tell anyone, yet signs what it stores,
so the peer it meets later takes its agents from anti-entropy (a signed owner's unsigned
entries would be refused).

Deterministic: stub signatures, virtual time, no sockets."""

from __future__ import annotations

import random

import msgpack

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import AGENT, HB, RECORD_VALUES, make_record
from gossipreg.core.node import Node
from gossipreg.core.replica.store import Write
from gossipreg.core.trust.proofs import stub_identity
from gossipreg.core.types import AgentStatus
from gossipreg.core.wire.codec import Codec, pack_message
from gossipreg.core.wire.messages import WriteMsg, encode, parse
from gossipreg.core.wire.tags import Tag
from sim.cluster import Cluster

CFG = NodeConfig.lan(heartbeat_timeout=None)


def _queued(node: Node, owner: str, key: str) -> tuple[bytes, bytes | bool | None]:
    """The packed message queued to gossip a write, and its first-release form (True: the
    same bytes, None: not sent to a first-release peer)."""
    item = node.out._write_q._where[(owner, key)]
    return item[1], item[2]


def _pair() -> tuple[Node, Node, bytes]:
    """``a`` signs; ``b`` pinned ``a``'s key, knows ``a`` and one more member (``c``)."""
    ida, idb = stub_identity("a", 7), stub_identity("b", 7)
    a = Node("a", "a:1", CFG, rng=random.Random(1), now=0.0, identity=ida)
    a.assume_member("b", "b:1", 1, 0.0)  # someone to tell: a's writes are queued
    b = Node("b", "b:1", CFG, rng=random.Random(2), now=0.0, identity=idb,
             pins={"a": ida.signer.public_key})
    b.assume_member("a", "a:1", 1, 0.0)
    b.assume_member("c", "c:1", 1, 0.0)
    return a, b, ida.signer.public_key


def test_a_relay_forwards_a_signed_write_as_received_and_never_a_forged_one() -> None:
    a, b, _ = _pair()
    rec = make_record("x", "X", "rt", ["python code"], card={"name": "X", "skills": []})
    a.register(rec, 1.0, wall=1.0)
    sent, _ = _queued(a, "a", AGENT + "x")
    raw = parse_raw(sent)
    assert len(raw) == 9 and isinstance(raw[8], bytes)  # a's write carries its signature
    frame = Codec(CFG.cluster).encode_packed("a", "a:1", [sent])
    assert b.handle_packet(frame, 1.0, wall=1.0).accepted
    assert b.read.get("x") is not None
    relayed, first = _queued(b, "a", AGENT + "x")
    assert relayed == sent  # the owner's bytes, signature included, not packed again
    assert isinstance(first, bytes) and first != sent  # a first-release peer: no signature
    old = parse_raw(first)
    assert len(old) == 8 and old[:6] == raw[:6]

    # The same write with its value changed (the signature no longer covers it): dropped,
    # counted, and nothing is queued to relay.
    w = parse(raw, RECORD_VALUES)
    assert isinstance(w, WriteMsg) and w.write.sig is not None
    forged_rec = make_record("y", "Y", "rt", ["python code"])
    forged = Write("a", 1, AGENT + "y", w.write.version + 1, False, forged_rec, (), w.write.sig)
    bad = pack_message(encode(WriteMsg(forged), RECORD_VALUES))
    before = b.metrics.dropped.get("bad_signature", 0)
    b.handle_packet(Codec(CFG.cluster).encode_packed("a", "a:1", [bad]), 2.0, wall=2.0)
    assert b.read.get("y") is None
    assert b.out.queued_write("a", AGENT + "y") is None
    assert b.metrics.dropped.get("bad_signature", 0) == before + 1


def parse_raw(packed: bytes) -> list[object]:
    out = msgpack.unpackb(packed, raw=False)
    assert isinstance(out, list) and out[0] == Tag.WRITE
    return out


def test_a_node_alone_signs_what_it_stores_and_a_later_peer_takes_its_agents() -> None:
    c = Cluster(seed=5, config=CFG, signing=True)
    n0 = c.add_node("n0")
    assert n0 is not None
    for aid in ("x", "y", "z"):
        n0.register(make_record(aid, aid.upper(), "rt", ["python code"]), c.now,
                    wall=c.wall("n0"))
    n0.heartbeat("x", c.now, wall=c.wall("n0"))
    n0.set_status("y", AgentStatus.DEGRADED, c.now, "slow", wall=c.wall("n0"))
    n0.deregister("z", c.now, wall=c.wall("n0"))
    # Alone: nothing was queued to tell anyone, yet every stored write is signed.
    for key in (AGENT + "x", AGENT + "y", HB + "x"):
        assert n0.out.queued_write("n0", key) is None
        e = n0.dir.replica.get("n0", key)
        assert e is not None and e.sig is not None, key
    c.run_for(1.0)

    c.add_node("n1", ["n0"])
    assert c.run_until_true(lambda: c.node("n1").read.get("x") is not None
                            and c.node("n1").read.get("y") is not None, 30.0) is not None
    n1 = c.node("n1")
    assert n1.read.get("z") is None
    y = n1.read.get("y")
    assert y is not None and y.status is AgentStatus.DEGRADED
    x = n1.read.get("x")
    assert x is not None and x.heartbeat_count == 1
    refused = {k: v for k, v in n1.metrics.dropped.items() if k.startswith("unsigned") and v
               and k != "unsigned_member"}
    assert refused == {}, refused
    # And its writes once it has a peer are told (and signed) as usual.
    n0.register(make_record("w", "W", "rt", ["python code"]), c.now, wall=c.wall("n0"))
    q = n0.out.queued_write("n0", AGENT + "w")
    assert q is not None and q.sig is not None
    assert c.run_until_true(lambda: n1.read.get("w") is not None, 10.0) is not None
