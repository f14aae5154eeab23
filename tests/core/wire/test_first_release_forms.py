"""What a first-release peer (one that announced no features) is sent: each message in the
shape that release parses, without entries under keys it would refuse; a peer that announced
its features gets the current form."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gossipreg.core.directory.records import RECORD_VALUES, BadVectors, Heartbeat, Opaque
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.node import Node
from gossipreg.core.search.vectors import VectorSet
from gossipreg.core.wire.fields import NO_FORM, OwnerDelta, Write
from gossipreg.core.wire.messages import (
    FEATURES,
    Features,
    SyncAck,
    WriteMsg,
    encode,
    encode_first_release,
    parse,
)


def test_a_write_under_a_key_the_first_release_refuses_has_no_first_release_form() -> None:
    assert RECORD_VALUES.first_release("vec/a", None) is NO_FORM
    w = Write("o", 1, "vec/a", 3, True, None)
    assert encode_first_release(WriteMsg(w), RECORD_VALUES) is None
    hb = Write("o", 1, "hb/a", 4, False, Heartbeat(2, 5))
    assert encode_first_release(WriteMsg(hb), RECORD_VALUES) == encode(WriteMsg(hb),
                                                                       RECORD_VALUES)


def test_a_delta_for_a_first_release_peer_leaves_out_only_what_it_would_refuse() -> None:
    d = OwnerDelta("o", 1, 0, 3, (("hb/a", 1, False, Heartbeat(1, 1)), ("vec/a", 2, True, None),
                                  ("hb/a", 3, False, Heartbeat(2, 2))), True)
    ack = SyncAck(7, (d,), None, None, False)
    old = encode_first_release(ack, RECORD_VALUES)
    assert old is not None
    assert [e[0] for e in old[2][0][5]] == ["hb/a", "hb/a"]
    assert old[2][0][3] == 3  # the watermark still covers the version left out
    parsed = parse(encode(ack, RECORD_VALUES), RECORD_VALUES)
    assert isinstance(parsed, SyncAck) and len(parsed.deltas[0].entries) == 3


def test_a_key_family_of_a_later_release_is_kept_and_relayed_as_it_came() -> None:
    later = Write("o", 1, "future/a", 5, False, [3, 10])
    wire = encode(WriteMsg(later), RECORD_VALUES)
    got = parse(wire, RECORD_VALUES)
    assert isinstance(got, WriteMsg) and isinstance(got.write.value, Opaque)
    assert encode(got, RECORD_VALUES) == wire
    bad = [*wire[:3], "future/" + "x" * 300, *wire[4:]]
    with pytest.raises(InvalidArgumentError):
        parse(bad, RECORD_VALUES)


def test_vectors_are_a_known_family_and_bad_ones_are_kept_unused() -> None:
    good = Write("o", 1, "vec/a", 5, False, ["model-x", [b"\x01\x02", b"\x7f\x00"]])
    wire = encode(WriteMsg(good), RECORD_VALUES)
    got = parse(wire, RECORD_VALUES)
    assert isinstance(got, WriteMsg) and isinstance(got.write.value, VectorSet)
    assert got.write.value.dims == 2 and encode(got, RECORD_VALUES) == wire
    for raw, reason in ((["m", [b"\x01", b"\x01\x02"]], "dims"),  # mixed lengths
                        (["m", [bytes(513)]], "dims"),  # oversized
                        (["m", [b"\x01"] * 9], "count"),  # too many
                        (["m", [[1, float("nan")]]], "finite"),
                        (["m", [b"\x80"]], "range"), (["bad tag", [b"\x01"]], "model"),
                        ("nonsense", "type")):
        w = parse(encode(WriteMsg(Write("o", 1, "vec/a", 5, False, raw)), RECORD_VALUES),
                  RECORD_VALUES)
        assert isinstance(w, WriteMsg) and w.write.value == BadVectors(raw, reason)
    assert RECORD_VALUES.first_release("vec/a", got.write.value) is NO_FORM


def _sent(node: Node, now: float) -> dict[str, list[list[Any]]]:
    """The messages of every frame the node transmits, by destination."""
    out: dict[str, list[list[Any]]] = {}
    while (tx := node.poll_transmit()) is not None:
        out.setdefault(tx.dest, []).extend(node.codec.decode(tx.payload).messages)
    return out


def test_broadcasts_go_in_each_destinations_form() -> None:
    node = Node("a", "a:1", rng=random.Random(1), now=0.0)
    node.assume_member("new", "new:1", 1, 0.0)
    node.assume_member("old", "old:1", 1, 0.0)
    node.inbound.swim.on_features(Features((("new", 1, int(FEATURES)),)), 0.0, "new:1")
    _sent(node, 0.0)
    out = node.out
    out.gossip_write(Write("a", 1, "vec/x", 1, True, None), 0.0)
    out.gossip_write(Write("a", 1, "hb/x", 2, False, Heartbeat(1, 1)), 0.0)
    out.send("new:1", Features((("a", 1, int(FEATURES)),)))
    out.send("old:1", Features((("a", 1, int(FEATURES)),)))
    out.flush()
    sent = _sent(node, 0.0)
    keys = {dest: [m[3] for m in msgs if m[0] == 9] for dest, msgs in sent.items()}
    assert sorted(keys["new:1"]) == ["hb/x", "vec/x"]
    assert keys["old:1"] == ["hb/x"]  # the first release would refuse the vec/ write
    # FEATURES goes to both: it is how a peer whose features are unknown is asked for them.
    assert all(any(m[0] == 16 for m in msgs) for msgs in sent.values())
