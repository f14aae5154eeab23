"""A relay forwards a write as the bytes it received, unless its queue changed the write."""

from __future__ import annotations

import random

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import AGENT, RECORD_VALUES, make_record
from gossipreg.core.node import Node
from gossipreg.core.replica.store import Write
from gossipreg.core.wire.codec import Codec, pack_message
from gossipreg.core.wire.messages import WriteMsg, encode


def _queued(node: Node, owner: str, key: str) -> bytes:
    item = node.out._write_q._where[(owner, key)]
    packed: bytes = item[1]
    return packed


def test_relayed_write_is_the_received_bytes() -> None:
    cfg = NodeConfig.lan()
    b = Node("b", "b:1", cfg, rng=random.Random(1), now=0.0)
    b.assume_member("a", "a:1", 1, 0.0)
    b.assume_member("c", "c:1", 1, 0.0)
    rec = make_record("x", "X", "rt", ["python code"], card={"name": "X", "skills": []},
                      registered_at=1.0)
    w = Write("a", 1, AGENT + "x", 1, False, rec, ())
    wire = encode(WriteMsg(w), RECORD_VALUES)
    sent = pack_message(wire)
    frame = Codec(cfg.cluster).encode_packed("a", "a:1", [sent])
    assert b.handle_packet(frame, 1.0, wall=2.0).accepted
    assert b.read.get("x") is not None
    assert _queued(b, "a", AGENT + "x") == sent  # as received, not packed again

    # A newer write of the key while the first is queued: merged, so packed again.
    w2 = Write("a", 1, AGENT + "x", 2, True, "deregistered", ())
    sent2 = pack_message(encode(WriteMsg(w2), RECORD_VALUES))
    frame2 = Codec(cfg.cluster).encode_packed("a", "a:1", [sent2])
    assert b.handle_packet(frame2, 1.5, wall=2.5).accepted
    queued = b.out.queued_write("a", AGENT + "x")
    assert queued is not None and queued.supersedes == (1,)  # inherited from the queued one
    assert _queued(b, "a", AGENT + "x") == pack_message(encode(WriteMsg(queued), RECORD_VALUES))
    assert _queued(b, "a", AGENT + "x") != sent2
