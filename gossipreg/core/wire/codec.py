"""Wire framing: protocol version, cluster name, HMAC-SHA256 under a keyring, msgpack body.

Frame (version 1)::

    b"GR" | version (1 byte) | flags (1 byte, bit 0 = signed) | mac (32 bytes, if signed) | body
    body = msgpack [cluster, src_id, src_addr, [message, ...]]
    mac  = HMAC-SHA256(key, header + body)

Rules: checks run cheapest and safest first: size, magic, version, flags, MAC (no msgpack parsing of
unauthenticated bytes), then a hardened unpack, then the envelope's shape, then the cluster.
Nesting depth is bounded by msgpack's own unpacker stack; message parsing (``messages.py``)
accepts only shallow shapes, and the one free-form value (an agent card) is depth-checked there.
``decode`` raises only :class:`CodecError`, whose ``reason`` is a stable metric label.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import msgpack

from gossipreg.core.errors import CodecError, InvalidArgumentError, NodeStateError
from gossipreg.core.wire.keyring import Keyring

__all__ = [
    "FRAME_OVERHEAD",
    "MAX_MESSAGES",
    "PROTOCOL_VERSION",
    "Codec",
    "Envelope",
    "FrameKeys",
    "message_bytes",
    "pack_message",
]

PROTOCOL_VERSION = 1
MAGIC = b"GR"
SIGNED = 0x01
MAC_SIZE = 32
MAX_MESSAGES = 4096
MAX_TAG = 2**16
# Header, MAC and the msgpack array headers of a frame; add the cluster, id and address lengths.
FRAME_OVERHEAD = 4 + MAC_SIZE + 1 + 3 * 2 + 3


_new = tuple.__new__  # a named tuple without its Python-level constructor: one per packet


class Envelope(NamedTuple):
    """A verified frame: who sent it and its raw messages (``[tag, ...]`` lists). (A named
    tuple: one is built per packet, three times faster than a frozen dataclass.)"""

    cluster: str
    src_id: str
    src_addr: str
    messages: list[list[Any]]
    body: bytes = b""  # the msgpack body the messages came from (see message_bytes)


def message_bytes(body: bytes) -> list[bytes]:
    """The packed bytes of each message of a frame body that :meth:`Codec.decode` accepted, as
    they came: what a relay forwards unchanged (``pack_message``'s form, framed again by
    :meth:`Codec.encode_packed`)."""
    u = msgpack.Unpacker(raw=False, strict_map_key=True, ext_hook=_refuse_ext,
                         max_buffer_size=max(len(body), 1))
    u.feed(body)
    u.read_array_header()
    for _ in range(3):
        u.skip()
    out = []
    for _ in range(u.read_array_header()):
        start = u.tell()
        u.skip()
        out.append(body[start:u.tell()])
    return out


def pack_message(message: Sequence[Any]) -> bytes:
    """A message packed once, to be framed (possibly many times) by :meth:`Codec.encode_packed`;
    its length is what it adds to a frame body. Raises InvalidArgumentError if a value cannot be
    encoded."""
    try:
        return _pack(message)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidArgumentError(f"cannot encode message: {e}") from None


# ``msgpack.packb`` builds a Packer per call, which costs more than packing a small message
# does: one Packer, reused (it resets itself after each value and after a failure; a call
# runs in C without releasing the GIL, so threads cannot interleave on it). Its buffer starts
# small (msgpack's default is 256 KiB, allocated at once: four such Packers were ~0.6 MB of an
# idle node's RSS) and grows, doubling, to the largest value it has packed; it never shrinks.
PACKER_BUFFER = 4096
_pack: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True, buf_size=PACKER_BUFFER).pack


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise CodecError("malformed", "extension types are not allowed")


def _short_str(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 255


class Codec:
    """Encodes and verifies frames for one cluster. ``keyring`` may be swapped or rotated at
    run time (its owner's key methods do that); with no keyring, frames are unsigned and
    signed frames are refused."""

    def __init__(self, cluster: str, keyring: Keyring | None = None, *,
                 max_packet_size: int = 1_048_576) -> None:
        if not _short_str(cluster):
            raise InvalidArgumentError("cluster name must have 1..255 characters")
        self.cluster = cluster
        self.keyring = keyring
        self.max_packet_size = max_packet_size
        self._signed_header = MAGIC + bytes([PROTOCOL_VERSION, SIGNED])
        self._plain_header = MAGIC + bytes([PROTOCOL_VERSION, 0])
        self._prefixes: dict[tuple[str, str], bytes] = {}

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The keys frames are verified with, the signing one first (none: unsigned)."""
        return self.keyring.keys if self.keyring is not None else ()

    def install_key(self, key: bytes) -> None:
        """Add a key that verifies; the first one (no keyring yet) also signs."""
        if self.keyring is None:
            self.keyring = Keyring([key])
        else:
            self.keyring.add(key)

    def use_key(self, key: bytes) -> None:
        """Sign with an installed key; NodeStateError without a keyring."""
        self._ring().use(key)

    def remove_key(self, key: bytes) -> None:
        """Stop accepting a key (not the signing one); NodeStateError without a keyring."""
        self._ring().remove(key)

    def _ring(self) -> Keyring:
        if self.keyring is None:
            raise NodeStateError("no keyring installed")
        return self.keyring

    def encode(self, src_id: str, src_addr: str, messages: Sequence[Sequence[Any]]) -> bytes:
        """A frame carrying ``messages``; raises InvalidArgumentError when it would be too big
        or a value cannot be encoded."""
        return self.encode_packed(src_id, src_addr, [pack_message(m) for m in messages])

    def encode_packed(self, src_id: str, src_addr: str, packed: Sequence[bytes]) -> bytes:
        """A frame carrying messages packed by :func:`pack_message`: the body is the same
        msgpack envelope, assembled from bytes so that a broadcast sent many times is packed
        once. Raises InvalidArgumentError when the frame would be too big."""
        prefix = self._prefixes.get((src_id, src_addr))
        if prefix is None:
            # [cluster, src_id, src_addr, messages]: the first three items never change.
            prefix = b"\x94" + _pack(self.cluster) + _pack(src_id) + _pack(src_addr)
            if len(self._prefixes) > 64:
                self._prefixes.clear()
            self._prefixes[(src_id, src_addr)] = prefix
        body = prefix + _array_header(len(packed)) + b"".join(packed)
        ring = self.keyring
        if ring:
            header = self._signed_header
            frame = header + hmac.digest(ring.primary, header + body, hashlib.sha256) + body
        else:
            frame = self._plain_header + body
        if len(frame) > self.max_packet_size:
            raise InvalidArgumentError(
                f"frame of {len(frame)} bytes exceeds max_packet_size {self.max_packet_size}")
        return frame

    def decode(self, data: bytes) -> Envelope:
        """Verify and parse a frame; raises only :class:`CodecError`."""
        if type(data) is not bytes:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise CodecError("malformed", "not bytes")
            data = bytes(data)
        n = len(data)
        if n > self.max_packet_size:
            raise CodecError("oversized", f"{n} bytes")
        if n < 4:
            raise CodecError("truncated")
        if data[:2] != MAGIC:
            raise CodecError("bad_magic")
        if data[2] != PROTOCOL_VERSION:
            raise CodecError("bad_version", str(data[2]))
        flags = data[3]
        if flags & ~SIGNED:
            raise CodecError("malformed", "unknown flags")
        ring = self.keyring
        if flags & SIGNED:
            if not ring:
                raise CodecError("unexpected_signature")
            if n < 4 + MAC_SIZE:
                raise CodecError("truncated")
            mac = data[4:4 + MAC_SIZE]
            body = data[4 + MAC_SIZE:]
            signed = data[:4] + body
            if not any(hmac.compare_digest(mac, hmac.digest(k, signed, hashlib.sha256))
                       for k in ring.keys):
                raise CodecError("bad_mac")
        else:
            if ring:
                raise CodecError("unsigned")
            body = data[4:]
        if not body:
            raise CodecError("truncated")
        try:
            value = msgpack.unpackb(
                body, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext,
                max_str_len=n, max_bin_len=n, max_array_len=n, max_map_len=n, max_ext_len=0)
        except CodecError:
            raise
        except Exception as e:  # msgpack raises many types; all mean the same to us
            raise CodecError("malformed", type(e).__name__) from None
        if not isinstance(value, list) or len(value) != 4:
            raise CodecError("malformed", "envelope must be a 4-item list")
        cluster, src_id, src_addr, messages = value
        if not (type(cluster) is str and type(src_id) is str and type(src_addr) is str
                and 0 < len(cluster) <= 255 and 0 < len(src_id) <= 255
                and 0 < len(src_addr) <= 255):
            raise CodecError("malformed", "bad envelope strings")
        if not isinstance(messages, list) or len(messages) > MAX_MESSAGES:
            raise CodecError("malformed", "bad message list")
        for m in messages:
            if type(m) is not list or not m:  # msgpack builds exact lists
                raise CodecError("malformed", "a message must be a non-empty list")
            tag = m[0]
            if type(tag) is not int or not 0 <= tag <= MAX_TAG:
                raise CodecError("malformed", "bad message tag")
        if cluster != self.cluster:
            raise CodecError("bad_cluster", cluster[:64])
        return _new(Envelope, (cluster, src_id, src_addr, messages, body))


class FrameKeys:
    """The keyring methods of a node, over its ``codec`` (a mixin): rotation on a running mesh
    is ``install_key`` everywhere, then ``use_key`` everywhere, then ``remove_key``."""

    codec: Codec

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The keys frames are verified with, the signing one first (none: unsigned)."""
        return self.codec.keys

    def install_key(self, key: bytes) -> None:
        """Add a key that verifies (rotation step 1, on every node); a first key also signs."""
        self.codec.install_key(key)

    def use_key(self, key: bytes) -> None:
        """Sign with an installed key (rotation step 2); NodeStateError without a keyring."""
        self.codec.use_key(key)

    def remove_key(self, key: bytes) -> None:
        """Stop accepting a key (rotation step 3); the signing one cannot be removed."""
        self.codec.remove_key(key)

    def replace_keyring(self, keys: Iterable[bytes]) -> None:
        """Install exactly ``keys``, the first signing; an invalid key changes nothing."""
        self.codec.keyring = Keyring(keys)
