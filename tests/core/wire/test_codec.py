"""The wire codec: valid frames round-trip; any other input raises only CodecError."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.errors import CodecError, InvalidArgumentError
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.keyring import Keyring

K1, K2, K3 = b"k" * 32, b"j" * 32, b"x" * 16
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                   st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=20))
value = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=4),
                                                 st.dictionaries(st.text(max_size=5), c,
                                                                 max_size=4)), max_leaves=12)
message = st.tuples(st.integers(0, 2**16), st.lists(value, max_size=4)).map(
    lambda t: [t[0], *t[1]])


def signed(keys: list[bytes] | None = None, cluster: str = "c") -> Codec:
    return Codec(cluster, Keyring(keys or [K1]), max_packet_size=65_536)


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(message, max_size=5), keyed=st.booleans())
def test_valid_frames_round_trip(msgs: list[list[Any]], keyed: bool) -> None:
    c = signed() if keyed else Codec("c", max_packet_size=65_536)
    try:
        frame = c.encode("node-1", "127.0.0.1:1", msgs)
    except InvalidArgumentError:
        return  # too big for the packet size: refused at encode, fine
    env = c.decode(frame)
    assert (env.cluster, env.src_id, env.src_addr) == ("c", "node-1", "127.0.0.1:1")
    assert env.messages == msgpack.unpackb(msgpack.packb(msgs), raw=False, strict_map_key=False)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_codec_error(data: bytes) -> None:
    for c in (signed(), Codec("c")):
        with pytest.raises(CodecError):
            c.decode(data)


@settings(max_examples=100, deadline=None)
@given(msgs=st.lists(message, min_size=1, max_size=3), cut=st.integers(0, 10_000),
       flip=st.integers(0, 10_000))
def test_truncated_and_flipped_frames(msgs: list[list[Any]], cut: int, flip: int) -> None:
    c = signed()
    try:
        frame = c.encode("n", "a:1", msgs)
    except InvalidArgumentError:
        return
    with pytest.raises(CodecError):
        c.decode(frame[: cut % len(frame)])
    i = flip % len(frame)
    bad = frame[:i] + bytes([frame[i] ^ 0x01]) + frame[i + 1:]
    with pytest.raises(CodecError):
        c.decode(bad)


def reason(c: Codec, data: bytes) -> str:
    with pytest.raises(CodecError) as e:
        c.decode(data)
    return e.value.reason


def test_rejection_reasons() -> None:
    good = signed().encode("n", "a:1", [[1, 2, "x"]])
    assert reason(signed([K2]), good) == "bad_mac"
    assert reason(signed(cluster="other"), good) == "bad_cluster"
    assert reason(Codec("c"), good) == "unexpected_signature"
    plain = Codec("c").encode("n", "a:1", [[1]])
    assert reason(signed(), plain) == "unsigned"
    assert reason(Codec("other"), plain) == "bad_cluster"
    assert reason(Codec("c", max_packet_size=65_536), b"\0" * 70_000) == "oversized"
    assert reason(Codec("c"), b"XX\x01\x00") == "bad_magic"
    assert reason(Codec("c"), b"GR\x09\x00" + plain[4:]) == "bad_version"
    assert reason(Codec("c"), b"GR") == "truncated"


def forge(body: Any, key: bytes = K1) -> bytes:
    """A correctly signed frame around an arbitrary body (to get past the MAC)."""
    import hashlib
    import hmac

    raw = msgpack.packb(body, use_bin_type=True)
    header = b"GR\x01\x01"
    return header + hmac.digest(key, header + raw, hashlib.sha256) + raw


@pytest.mark.parametrize("body", [
    5, "x", [], ["c", "n", "a"], ["c", "n", "a", "notalist"], ["c", 1, "a", []],
    ["c", "n", "", []], ["c", "n" * 300, "a", []], ["c", "n", "a", [5]], ["c", "n", "a", [[]]],
    ["c", "n", "a", [["tag"]]], ["c", "n", "a", [[True]]], ["c", "n", "a", [[-1]]],
    ["c", "n", "a", [[2**20]]], ["c", "n", "a", [[1]] * 5000],
])
def test_signed_frames_with_bad_shapes_are_malformed(body: Any) -> None:
    assert reason(signed(), forge(body)) == "malformed"


def test_ext_types_and_deep_nesting_refused() -> None:
    ext = forge(["c", "n", "a", [[1, msgpack.ExtType(1, b"x")]]])
    assert reason(signed(), ext) == "malformed"
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises((CodecError, ValueError)):
        # msgpack refuses to even pack this deep; if it could, decode must refuse it
        signed().decode(forge(["c", "n", "a", [[1, deep]]]))


def test_key_rotation() -> None:
    ring = Keyring([K1])
    c = Codec("c", ring)
    old = c.encode("n", "a:1", [[1]])
    ring.add(K2)
    assert c.decode(old).src_id == "n"
    ring.use(K2)
    new = c.encode("n", "a:1", [[1]])
    assert Codec("c", Keyring([K2])).decode(new).src_id == "n"
    assert c.decode(old).src_id == "n"
    ring.remove(K1)
    assert reason(c, old) == "bad_mac"


def test_keyring_rules() -> None:
    with pytest.raises(InvalidArgumentError):
        Keyring([])
    with pytest.raises(InvalidArgumentError):
        Keyring([b"short"])
    with pytest.raises(InvalidArgumentError):
        Keyring([K1, K1])
    ring = Keyring([K1, K3])
    with pytest.raises(InvalidArgumentError):
        ring.remove(K1)
    with pytest.raises(InvalidArgumentError):
        ring.use(K2)
    assert "kkkk" not in repr(ring) and "xxxx" not in repr(ring)


def test_a_nodes_key_methods_rotate_its_keyring_and_a_bad_replacement_changes_nothing() -> None:
    import random

    from gossipreg.core.errors import NodeStateError
    from gossipreg.core.node import Node, Received

    node = Node("n", "a:1", rng=random.Random(1), now=0.0)
    assert node.keys == ()
    with pytest.raises(NodeStateError, match="no keyring"):
        node.use_key(K1)
    with pytest.raises(NodeStateError, match="no keyring"):
        node.remove_key(K1)
    node.install_key(K1)  # the first key signs
    node.install_key(K2)
    assert node.keys == (K1, K2)
    hello = Codec(node.cfg.cluster, Keyring([K2])).encode("p", "b:1", [])
    assert node.handle_packet(hello, 0.1, wall=0.1) == Received(True, None, "b:1")
    node.use_key(K2)
    with pytest.raises(InvalidArgumentError, match="primary"):
        node.remove_key(K2)
    node.remove_key(K1)
    assert node.keys == (K2,)
    with pytest.raises(InvalidArgumentError):
        node.replace_keyring([K3, b"short"])
    with pytest.raises(InvalidArgumentError):
        node.replace_keyring([])
    assert node.keys == (K2,)
    node.replace_keyring([K3, K1])
    assert node.keys == (K3, K1)
    assert node.handle_packet(hello, 0.2, wall=0.2) == Received(False, "bad_mac", None)


def test_the_reused_packer_grows_past_its_small_first_buffer_and_stays_right() -> None:
    # Its buffer starts at PACKER_BUFFER (not msgpack's 256 KiB) and grows with what it packs;
    # a failure or a small value after a large one leaves nothing behind.
    from gossipreg.core.wire.codec import PACKER_BUFFER, pack_message

    for size in (10, PACKER_BUFFER - 8, PACKER_BUFFER * 3, 300_000, 5):
        msg = [1, "x" * size, b"y" * size, list(range(size // 100))]
        assert msgpack.unpackb(pack_message(msg)) == msg
    with pytest.raises(InvalidArgumentError):
        pack_message([object()])
    assert msgpack.unpackb(pack_message(["after", 2])) == ["after", 2]
