"""Inbound packets: authenticate, validate, drop known news early, route each message.

Rules: a frame that fails the codec (version, cluster, MAC, shape), comes from ourselves, names
an unspecified address or a refused duplicate name is dropped and counted, and changes nothing.
A join that claims our own name from another address is another process with our name using
us as its seed: it is refused as any duplicate name is (an answer listing our name at our
address, the one the joiner reads as a refusal), and counted as ``duplicate_name``; on the
joiner's side, that answer comes in its own name and is read only as a refusal.
Writes, beacons, feature rows and (between unsigned nodes) Alives we already hold are dropped
before validation (gossip brings most of them many times over). Every other message is parsed
strictly, then handed to the machine it belongs to; a malformed one is dropped and counted
alone. ``receive`` answers what the caller may act on (a :class:`Received`) and whether
anything was acted on (only then can a timer have moved or a message be queued).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple

from gossipreg.core.directory.directory import Directory
from gossipreg.core.errors import CodecError, InvalidArgumentError
from gossipreg.core.gossip.antientropy import AntiEntropy
from gossipreg.core.gossip.dissemination import Dissemination
from gossipreg.core.membership.swim import Swim
from gossipreg.core.membership.table import MemberTable
from gossipreg.core.metrics import Metrics
from gossipreg.core.trust.judge import KNOWN, QUIET, Trust
from gossipreg.core.types import MemberState
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.core.wire.codec import Codec, message_bytes
from gossipreg.core.wire.messages import (
    KINDS,
    Ack,
    Alive,
    Beacon,
    Dead,
    Feature,
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
    Write,
    WriteMsg,
    parse,
    parse_write,
)

__all__ = ["Inbound", "Received"]

# Plain ints: the hot comparisons.
_WRITE, _BEACON, _FEATURES = int(Tag.WRITE), int(Tag.BEACON), int(Tag.FEATURES)
_ALIVE = int(Tag.ALIVE)
_SETTLING = (Tag.FEATURES, Tag.SYNC_ACK)  # what may settle automatic mode (a join answer)
_new = tuple.__new__
_WRITE_LEN = 8  # an unsigned WRITE's items in this release (a signed one has one more)
_FORWARD_MIN = 512  # bytes of a packet body from which its writes are relayed as received
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
                 values: ValueCodec, trust: Trust | None = None) -> None:
        self.id = node_id
        self.codec = codec
        self.metrics = metrics
        self.members = members
        self.swim = swim
        self.dir = directory
        self.ae = ae
        self.out = out
        self.values = values
        self.trust = trust  # judges what members say of themselves (None: nothing is signed)
        self._addrs_ok: set[str] = set()  # sender addresses checked specified (bounded)

    def receive(self, payload: bytes, now: float, src: str | None) -> tuple[Received, bool]:
        """Handle one packet: what its caller may act on, and whether anything was acted on.
        ``src`` is what the transport knows of the sender (for drop logs only; never trusted)."""
        m = self.metrics
        m.packets_in += 1
        m.bytes_in += len(payload)
        try:
            _, src_id, src_addr, messages, body = self.codec.decode(payload)
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
        alive_held = self.members.alive_held
        trust = self.trust
        if trust is not None:
            # Failures are charged to the connection's address and the claimed one together:
            # peers behind one address keep apart, and new claims meet the overall budget.
            trust.source = src_addr if src is None else f"{src} ({src_addr})"
            trust.now, trust.mismatched = now, None
            trust.stripped = known is None or not known.understands(Feature.SIGNED)
        dups = 0
        sent: list[bytes] | None = None  # each message's bytes, for relays (see _relay)
        values, receive_write = self.values, self.dir.receive_write
        for i, raw in enumerate(messages):
            # Gossip brings most writes many times over: drop known ones before validating.
            tag = raw[0]
            if tag == _WRITE:
                if len(raw) >= 8 and stale(raw[1], raw[2], raw[3], raw[4]):
                    dups += 1
                    continue
                if trust is None:  # the commonest message, unsigned: no dispatch, no judge
                    try:
                        w = parse_write(raw, values)
                    except InvalidArgumentError:
                        m.drop("malformed_message", now, src)
                        continue
                    if receive_write(w, now):
                        sent = self._relay(w, now, raw, i, body, sent)
                    acted = True
                    continue
            elif tag == _BEACON and len(raw) >= 4 and beacon_seen(raw[1], raw[2], raw[3]):
                dups += 1
                continue
            elif (tag == _ALIVE and trust is None and len(raw) >= 5
                    and alive_held(raw[1], raw[3], raw[4])):
                # A refutation is relayed by every member: most copies bring nothing new.
                # (With a judge, a known version may still bring the first proof to pin.)
                dups += 1
                continue
            elif (tag == _FEATURES and len(raw) == 3 and raw[2] is False
                    and self.members.features_held(raw[1])):
                dups += 1  # (one that asks, or carries a signed Alive, is parsed in full)
                continue
            kind = KINDS.get(tag)  # (``parse``, inline)
            if kind is None:
                m.drop("unknown_type", now, src)
                continue
            try:
                msg = kind.from_wire(raw, values)
            except InvalidArgumentError:
                m.drop("malformed_message", now, src)
                continue
            if trust is not None:
                msg = self._judge(trust, msg, now, src, src_id)
                if trust.mismatched == src_id:
                    break  # its own key was refused: nothing more of it is taken (see below)
                if msg is None:
                    continue
            if type(msg) is WriteMsg:
                if receive_write(msg.write, now):
                    sent = self._relay(msg.write, now, raw, i, body, sent)
            else:
                self._dispatch(msg, src_id, src_addr, now)
            acted = True
            if trust is not None and not trust.decided and tag in _SETTLING:
                self._settle_mode(trust, now)
        m.duplicates_in += dups
        if trust is not None and trust.unproven:
            self._ask_proofs(trust, now)
        if trust is not None and trust.mismatched == src_id:
            # It speaks with another key than its name's pinned one: tell it (it cannot join).
            return Received(False, "key_mismatch", None), acted
        return _new(Received, (True, None, src_addr)), acted  # (no Python-level __new__)

    def _relay(self, w: Write, now: float, raw: list[Any], i: int, body: bytes,
               sent: list[bytes] | None) -> list[bytes] | None:
        """Gossip news on. It is relayed as it came (the judge passed it, signature included)
        when its shape is exactly this release's and the packet is big enough for that to
        beat encoding it again (a card; not a heartbeat). Returns the packet's message bytes
        once split (``sent``: None until then)."""
        exact = len(raw) == _WRITE_LEN + (w.sig is not None) and len(body) >= _FORWARD_MIN
        if exact and sent is None:
            sent = message_bytes(body)
        self.out.gossip_write(w, now, sent[i] if exact and sent else None)
        return sent

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


    def _judge(self, t: Trust, msg: Message, now: float, src: str | None,
               src_id: str) -> Message | None:
        """The message as it may be acted on (member tables without the rows that fail), or
        None when it is dropped (counted, unless it was known news)."""
        match msg:
            case WriteMsg():
                why = t.check_write(msg.write)
                if why == "not_owner":  # authentic: its version is accounted for
                    self.dir.replica.account(msg.write, now)
            case Alive():
                why = t.check_alive(msg.node, msg.addr, msg.generation, msg.incarnation,
                                    msg.proof)
            case Left():
                why = t.check_left(msg.node, msg.generation, msg.incarnation, msg.sig)
            case Suspect() | Dead():
                why = t.check_suspicion(msg.node, msg.generation, msg.incarnation)
            case Sync() | SyncAck() | SyncAck2() if msg.members is not None:
                return dataclasses.replace(msg, members=t.filter_rows(msg.members, src_id))
            case Features() if msg.alive is not None:
                why = t.check_statement(msg.alive)
                if why is not None:  # its bits still count; its statement is refused
                    self.metrics.drop(why, now, src)
                return msg
            case _:
                return msg
        if why is None:
            return msg
        if why != KNOWN:  # (unsigned from a sender that may have stripped it: not logged)
            quiet = why in QUIET or (t.stripped and why.startswith("unsigned"))
            self.metrics.drop(why, None if quiet else now, src)
        return None

    def _ask_proofs(self, t: Trust, now: float) -> None:
        """Owners whose signed writes came before their signed Alive (or before we checked
        signatures): exchange tables with them, which brings their own proof."""
        for owner in t.unproven:
            m = self.members.get(owner)
            if m is not None and m.state.running:
                self.ae.unknown_sender(owner, m.addr, now)
        t.unproven.clear()

    def _settle_mode(self, t: Trust, now: float) -> None:
        """Automatic mode takes the setting of the seed that answered our join (its bits
        follow its answer): required there, required here, and announced."""
        via = self.ae.joined_via
        m = self.members.get(via) if via is not None else None
        if m is not None and m.features_known and t.adopt(m.features,
                                                         Feature.REQUIRES_SIGNATURES):
            self.members.me.features |= Feature.REQUIRES_SIGNATURES
            self.swim.announce_features(now)

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
                ok, detail = self.dir.serve_request(msg.op, msg.agent_id, now, msg.args)
                self.out.send(src_addr, Response(msg.req_id, ok, detail))
            case Response():
                self.dir.requests.answered(msg.req_id, msg.ok, msg.detail)
