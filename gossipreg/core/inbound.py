"""Inbound packets: authenticate, validate, drop known news early, route each message.

Rules: a frame that fails the codec (version, cluster, MAC, shape), comes from ourselves, names
an unspecified address or a refused duplicate name is dropped and counted, and changes nothing.
A join that claims our own name from another address is another process with our name using
us as its seed: it is refused as any duplicate name is (an answer listing our name at our
address, the one the joiner reads as a refusal), and counted as ``duplicate_name``; on the
joiner's side, that answer comes in its own name and is read only as a refusal.
Writes, beacons and feature rows we already hold are dropped before validation (gossip brings
most of them many times over). Every other message is parsed strictly, then handed to the machine it
belongs to; a malformed one is dropped and counted alone. ``receive`` answers what the caller
may act on (a :class:`Received`) and whether anything was acted on (only then can a timer have
moved or a message be queued).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from gossipreg.core.directory.directory import Directory
from gossipreg.core.errors import CodecError, InvalidArgumentError
from gossipreg.core.gossip.antientropy import AntiEntropy
from gossipreg.core.gossip.dissemination import Dissemination
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.types import MemberState
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.messages import (
    Ack,
    Alive,
    Beacon,
    Dead,
    Features,
    Left,
    Message,
    Nack,
    Ping,
    PingReq,
    Request,
    Response,
    Suspect,
    Sync,
    SyncAck,
    SyncAck2,
    Tag,
    ValueCodec,
    WriteMsg,
    parse,
)

__all__ = ["Inbound", "Received"]

# Plain ints: the hot comparisons.
_WRITE, _BEACON, _FEATURES = int(Tag.WRITE), int(Tag.BEACON), int(Tag.FEATURES)
log = logging.getLogger("gossipreg.core.names")


class Received(NamedTuple):
    """What a packet's arrival tells its caller: whether it was ``accepted`` (authentic,
    well-framed, from a sender we may hear), else why it was dropped (``drop``, a drop reason
    of :mod:`gossipreg.core.metrics`); and ``reply_to``, the sender's advertised address when
    accepted (a transport may carry the first packet for it back in its response)."""

    accepted: bool
    drop: str | None
    reply_to: str | None


class Inbound:
    """The packet router of one node (see the module rules)."""

    def __init__(self, node_id: str, codec: Codec, metrics: Metrics, members: MemberTable,
                 swim: Swim, directory: Directory, ae: AntiEntropy, out: Dissemination,
                 values: ValueCodec) -> None:
        self.id = node_id
        self.codec = codec
        self.metrics = metrics
        self.members = members
        self.swim = swim
        self.dir = directory
        self.ae = ae
        self.out = out
        self.values = values
        self._addrs_ok: set[str] = set()  # sender addresses checked specified (bounded)

    def receive(self, payload: bytes, now: float, src: str | None) -> tuple[Received, bool]:
        """Handle one packet: what its caller may act on, and whether anything was acted on.
        ``src`` is what the transport knows of the sender (for drop logs only; never trusted)."""
        m = self.metrics
        m.packets_in += 1
        m.bytes_in += len(payload)
        try:
            _, src_id, src_addr, messages = self.codec.decode(payload)
        except CodecError as e:
            return self._drop(e.reason, now, src)
        if src_id == self.id:
            if src_addr != self.members.me.addr and self._own_name(src_addr, messages, now):
                return Received(False, "duplicate_name", src_addr), True
            return self._drop("from_self", now, src)
        if src_addr not in self._addrs_ok:  # a sender's address is checked once, not per packet
            if is_unspecified(src_addr):
                return self._drop("unspecified_address", now, src)
            if len(self._addrs_ok) >= 4096:
                self._addrs_ok.clear()
            self._addrs_ok.add(src_addr)
        if self.ae.guard.refuses(src_id, src_addr, now):
            return self._drop("duplicate_name", now, src)
        acted = False
        known = self.members.get(src_id)
        if known is None or known.state is MemberState.DEAD:
            self.ae.unknown_sender(src_id, src_addr, now)
            acted = True
        stale, beacon_seen = self.dir.replica.is_stale, self.out.beacon_seen
        receive_write, relay = self.dir.receive_write, self.out.gossip_write
        dups = 0
        for raw in messages:
            # Gossip brings most writes many times over: drop known ones before validating.
            tag = raw[0]
            if tag == _WRITE and len(raw) >= 8 and stale(raw[1], raw[2], raw[3], raw[4]):
                dups += 1
                continue
            if tag == _BEACON and len(raw) >= 4 and beacon_seen(raw[1], raw[2], raw[3]):
                dups += 1
                continue
            if (tag == _FEATURES and len(raw) >= 3 and raw[2] is False
                    and self.members.features_held(raw[1])):
                dups += 1  # (one that asks for our row is answered: parsed in full)
                continue
            try:
                msg = parse(raw, self.values)
            except InvalidArgumentError:
                m.drop("malformed_message", now, src)
                continue
            if msg is None:
                m.drop("unknown_type", now, src)
                continue
            if type(msg) is WriteMsg:  # the most frequent kind: no dispatch on it
                if receive_write(msg.write, now):
                    relay(msg.write, now)
            else:
                self._dispatch(msg, src_id, src_addr, now)
            acted = True
        m.duplicates_in += dups
        return Received(True, None, src_addr), acted

    def _own_name(self, src_addr: str, messages: list[Any], now: float) -> bool:
        """Another process with our name: refuse its join with our table, where it finds
        its name held at our address; or read the refusal of ours (True: acted on)."""
        for raw in messages:
            if not raw or raw[0] not in (Tag.SYNC, Tag.SYNC_ACK):
                continue
            try:
                msg = parse(raw, self.values)
            except InvalidArgumentError:
                continue
            if isinstance(msg, Sync) and msg.join:
                self.metrics.drop("duplicate_name", now, src_addr)
                log.warning("refused a join as %r from %s: that name is this node's",
                            self.id, src_addr)
                self.out.send(src_addr, SyncAck(msg.xid, (), None, self.swim.rows(), False))
                return True
            if isinstance(msg, SyncAck) and self.ae.refused_by(msg):
                return True
        return False

    def _drop(self, reason: str, now: float, src: str | None) -> tuple[Received, bool]:
        self.metrics.drop(reason, now, src)
        return Received(False, reason, None), False


    def _dispatch(self, msg: Message, src_id: str, src_addr: str, now: float) -> None:
        swim = self.swim
        match msg:
            case Ping():
                if not swim.on_ping(msg, src_addr):
                    self.metrics.drop("misdirected")
            case Ack():
                if not self.ae.guard.on_ack(msg, now):
                    swim.on_ack(msg, now)
            case PingReq():
                swim.on_ping_req(msg, src_addr, now)
            case Nack():
                swim.on_nack(msg)
            case Alive():
                swim.on_alive(msg, now)
            case Suspect():
                swim.on_suspect(msg, now, src_addr)
            case Dead():
                swim.on_dead(msg, now, src_addr)
            case Left():
                swim.on_left(msg, now, src_addr)
            case WriteMsg():
                if self.dir.receive_write(msg.write, now):
                    self.out.gossip_write(msg.write, now)
            case Beacon():
                self.out.on_beacon(msg, now)
            case Features():
                swim.on_features(msg, now, src_addr)
            case Sync():
                self.ae.on_sync(msg, src_id, src_addr, now)
            case SyncAck():
                self.ae.on_sync_ack(msg, src_id, src_addr, now)
            case SyncAck2():
                self.ae.on_sync_ack2(msg, src_id, now)
            case Request():
                ok, detail = self.dir.serve_request(msg.op, msg.agent_id, now)
                self.out.send(src_addr, Response(msg.req_id, ok, detail))
            case Response():
                self.dir.requests.answered(msg.req_id, msg.ok, msg.detail)
