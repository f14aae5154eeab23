"""The judge of one node: pinned keys, signature checks, verdicts and their costs.

Rules:
- With a mesh CA (``Identity.binds``) a key is taken for a name when the CA's certificate in
  the statement binds them (``unbound_key`` otherwise), and the pin only caches it. Without:
- A name's key is the first one seen in a verified statement of that name (an ``Alive`` or a
  member row): it is pinned. Another key for that name is refused (``key_mismatch``) unless
  the statement carries a rotation signed by the pinned key; ``forget`` (an operator's, on
  this node only) releases a name. A pin lasts while its member is in the table and
  ``dead_retention`` more (an earlier run's pins too, from when this run starts).
- A write, delta entry, Alive, Left or manifest of a member with a pinned key must be signed
  by that key; in ``required`` mode everything must be. An unsigned one from a member without
  a key (a previous release, an unsigned node) is taken as before otherwise.
- A write's generation must be the one the owner's signed Alive announced: an older one is a
  replay (``old_generation``), a newer one waits for its Alive (``unknown_generation``); so a
  new generation, which replaces the owner's whole state, comes only with its signed Alive.
- ``Suspect`` and ``Dead`` cannot be signed by their subject: they stay as SWIM has them
  (refutation is the defence), but cannot move a signed member to a version its own Alive
  never announced (``ahead_of_alive``).
- A manifest deletes only when its owner signed it; a relay's manifest makes the delta prompt
  a request to the owner instead (``relayed_manifest``). A delta's entries verify one by one,
  and the first that fails ends what is taken of that owner (its watermark must not pass it).
- Verification comes after the early drop of known news; verdicts are cached; failures are
  counted per sender and overall, and a sender past its allowance has its signed items dropped
  unverified (``sig_rate_limited``), so a flood of bad signatures cannot burn the CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from gossipreg.core.metrics import Metrics
from gossipreg.core.trust.deltas import DeltaJudge
from gossipreg.core.trust.proofs import Binder, Identity, Payloads
from gossipreg.core.trust.signing import OwnSigning
from gossipreg.core.trust.verdicts import Verdicts
from gossipreg.core.types import MemberState
from gossipreg.core.wire.fields import MemberRow, OwnerDelta, Proof, ValueCodec, Write
from gossipreg.core.wire.members import Alive

__all__ = ["KNOWN", "QUIET", "MemberLookup", "Trust"]

log = logging.getLogger("gossipreg.core.trust")

KNOWN = "known"  # not a drop: known news, ignored before any check
# Counted but not logged: what ordinary traffic brings around joins and restarts (writes
# ahead of their owner's Alive, writes of its previous run).
QUIET = frozenset({"old_generation", "unknown_owner", "unknown_generation"})
_LEFT = MemberState.LEFT


class MemberLike(Protocol):
    @property
    def generation(self) -> int: ...
    @property
    def incarnation(self) -> int: ...
    @property
    def state(self) -> MemberState: ...


class MemberLookup(Protocol):
    """The member table as the judge reads it."""

    def get(self, node_id: str) -> Any: ...


# Who shows the agent a write speaks of, when the write is not its owner's to make (the
# directory's key families): None when it is, "" when nobody shows that agent here. The last
# argument holds the keys of the same owner already taken from the delta being judged.
Holder = Callable[[str, str, bool, "set[str]"], "str | None"]


class Trust(DeltaJudge, OwnSigning):
    """Signs this node's statements and judges everyone else's (see the module rules)."""

    def __init__(self, self_id: str, cluster: str, identity: Identity, values: ValueCodec,
                 metrics: Metrics, members: MemberLookup, *, required: bool | None = None,
                 pins: Mapping[str, bytes] | None = None) -> None:
        self.id = self_id
        self.identity = identity
        self.payloads = Payloads(cluster)
        self.values = values
        self.metrics = metrics
        self.members = members
        self._mode = required  # None: automatic, until a seed's answer or a bootstrap settles it
        self.pins: dict[str, bytes] = dict(pins or {})
        self.pins_changed = 0  # bumped on every change, for the host that saves them
        self._absent: dict[str, float] = {}  # pinned name without a member -> until when
        # member -> ((addr or None for a Left, generation, incarnation), its statement there)
        self._proofs: dict[str, tuple[tuple[str | None, int, int], Proof]] = {}
        # member -> ((addr, generation, incarnation), proof) its own Features carried
        self._stated: dict[str, tuple[tuple[str, int, int], Proof]] = {}
        self._bindings: dict[tuple[str, bytes, bytes], bool] = {}
        # Names an operator released -> the version held then: a statement of that version or
        # older (the old key's, still relayed) does not pin the name again.
        self._released: dict[str, tuple[int, int]] = {}
        self._own: tuple[tuple[str, int, int], Proof] | None = None
        self.verdicts = Verdicts(identity.verifier)
        self._warned: set[str] = set()
        self._holder: Holder = lambda owner, key, deleted, batch: None
        self.stale: Callable[[str, int, str, int], bool] = lambda o, g, k, v: False
        self.own_version: Callable[[], int] = lambda: 0
        self._ask: Callable[[str, int, int], object] = lambda o, g, v: None
        self.source: str | None = None  # the sender of the packet being handled
        self.now = 0.0
        self.mismatched: str | None = None  # a name refused for its key in that packet
        self.unproven: set[str] = set()  # owners whose writes we could not judge yet
        # Whether the packet's sender may have stripped signatures: a node of the previous
        # release (it keeps none), or one that does not know our features yet (it sends us
        # first-release forms). Unsigned items from it are counted, not logged.
        self.stripped = False

    def bind(self, stale: Callable[[str, int, str, int], bool],
             ask: Callable[[str, int, int], object], holder: Holder,
             own_version: Callable[[], int]) -> None:
        """Wire the judge to its node: ``stale`` tells known writes (the replica's early
        check), ``ask(owner, generation, version)`` opens a repair from the owner (the replica's
        ``announce``), ``holder`` says whose agent a write speaks of (the directory),
        ``own_version`` is the latest version we wrote."""
        self.stale, self._ask, self._holder = stale, ask, holder
        self.own_version = own_version

    def guard(self, apply: Callable[[list[OwnerDelta], float], None]
              ) -> Callable[[Iterable[OwnerDelta], float], None]:
        """``apply`` (the directory's), taking only what :meth:`filter_deltas` lets through."""
        def take(deltas: Iterable[OwnerDelta], now: float) -> None:
            apply(self.filter_deltas(deltas), now)
        return take

    def admits(self, owner: str, key: str, deleted: bool, batch: set[str] | None = None
               ) -> str | None:
        """Why an authentic write may not merge: a status about an agent that another node
        shows, when that node signs (or everyone must), is ``not_owner`` (status is written
        by owners only); one about an agent nobody shows here yet is ``unknown_agent`` (its
        record may still be on its way: it is asked for again later)."""
        holder = self._holder(owner, key, deleted, batch if batch is not None else set())
        if holder is None:
            return None
        if holder == "":
            return "unknown_agent"
        return "not_owner" if self._mode or holder in self.pins else None

    # ----------------------------------------------------------------- mode
    @property
    def required(self) -> bool:
        """Whether unsigned writes and member statements are refused from anyone."""
        return bool(self._mode)

    @property
    def decided(self) -> bool:
        return self._mode is not None

    def bootstrap(self, has_seeds: bool) -> bool:
        """A node with nothing to join starts a new cluster: automatic mode requires
        signatures there. Returns whether they are required."""
        if self._mode is None and not has_seeds:
            self._mode = True
        return self.required

    def adopt(self, seed_bits: int, required_bit: int) -> bool:
        """The seed that answered our join announced ``seed_bits``: automatic mode takes its
        setting. Returns True when that made signatures required here."""
        if self._mode is not None:
            return False
        self._mode = bool(seed_bits & required_bit)
        return self._mode

    def proof_of(self, node: str, addr: str, generation: int, incarnation: int
                 ) -> Proof | None:
        """A member's own statement at this version, to relay in its row (None: we hold none
        for that version)."""
        held = self._proofs.get(node)
        if held is None:
            return None
        (a, g, i), proof = held
        return proof if (g, i) == (generation, incarnation) and a in (None, addr) else None

    # ------------------------------------------------------------- checking
    def _drop(self, reason: str, quiet: bool = False) -> None:
        # Unsigned items from a sender that may have stripped them (see ``stripped``), and the
        # reasons of QUIET, are counted, not logged.
        if quiet or reason in QUIET or (self.stripped and reason.startswith("unsigned")):
            self.metrics.drop(reason)
        else:
            self.metrics.drop(reason, self.now, self.source)

    def _verified(self, key: bytes, sig: bytes, data: bytes) -> str | None:
        """None when ``sig`` is ``key``'s over ``data``; else why not."""
        return self.verdicts.check(key, sig, data, self.source or "", self.now)

    def _generation(self, owner: str, generation: int) -> str | None:
        m = self.members.get(owner)
        if m is not None and m.generation == generation:
            return None
        if m is not None and generation < m.generation:
            return "old_generation"
        self.unproven.add(owner)  # its signed Alive of that generation is to be asked for
        return "unknown_generation"

    def check_write(self, w: Write) -> str | None:
        """Why a received write may not merge (None: it may)."""
        owner = w.owner
        if owner == self.id:
            # Ours relayed back (the replica ignores it), or one newer than any we wrote.
            return None if w.version <= self.own_version() else self._forged(w)
        key = self.pins.get(owner)
        if w.sig is None:
            return "unsigned_write" if key is not None or self._mode else None
        if key is None:
            self.unproven.add(owner)
            return "unknown_owner"
        why = self._generation(owner, w.generation) or self._verified(
            key, w.sig, self.payloads.write(owner, w.generation, w.key, w.version, w.deleted,
                                            self.values.to_wire(w.value), w.supersedes))
        return why or self.admits(owner, w.key, w.deleted)

    def _forged(self, w: Write) -> str:
        """A write in our name, newer than any we made: nobody else may sign one."""
        if w.sig is None:
            return "unsigned_write"
        if w.generation != self.members.get(self.id).generation:
            return "old_generation"
        return self._verified(self.public_key, w.sig, self.payloads.write(
            w.owner, w.generation, w.key, w.version, w.deleted, self.values.to_wire(w.value),
            w.supersedes)) or "bad_signature"

    def check_alive(self, node: str, addr: str, generation: int, incarnation: int,
                    proof: Proof | None) -> str | None:
        """Why an Alive (or an ALIVE row) may not be applied: None, :data:`KNOWN` (no news),
        or a drop reason. A first key for a name is pinned here."""
        m = self.members.get(node)
        if node == self.id:  # newer than ours: not ours (SWIM ignores it; it is counted)
            if m is None or (generation, incarnation) <= (m.generation, m.incarnation):
                return None
            return ("unsigned_member" if proof is None else "key_mismatch"
                    if proof.key != self.public_key else "bad_signature")
        pinned = self.pins.get(node)
        known = m is not None and (generation, incarnation) <= (m.generation, m.incarnation)
        if known and (pinned is not None or proof is None
                      or (generation, incarnation) != (m.generation, m.incarnation)
                      or (generation, incarnation) <= self._released.get(node, (-1, -1))):
            return KNOWN
        # (Known, but taken before we checked signatures: its first proof pins its key.)
        if proof is None:
            return "unsigned_member" if pinned is not None or self._mode else None
        binds = self.identity.binds
        if binds is not None:  # the mesh CA binds names to keys: a key it certified is taken
            if pinned != proof.key and (proof.cert is None or not self._bound(
                    binds, node, proof.key, proof.cert)):
                return "unbound_key"
        elif pinned is not None and pinned != proof.key:
            why = ("key_mismatch" if proof.rot is None else
                   self._verified(pinned, proof.rot, self.payloads.rotation(node, proof.key)))
            if why is not None:
                self._mismatch(node, why)
                return "key_mismatch" if why == "bad_signature" else why
        why = self._verified(proof.key, proof.sig, self.payloads.alive(
            node, addr, generation, incarnation, proof.key))
        if why is not None:
            return why
        if pinned != proof.key:
            if pinned is not None:
                log.warning("node %r changed its key (%s)", node,
                            "certified by the mesh CA" if binds is not None
                            else "a rotation signed by the key pinned for it")
            self.pins[node] = proof.key
            self.pins_changed += 1
        self._proofs[node] = ((addr, generation, incarnation), proof)
        return KNOWN if known else None

    def _bound(self, binds: Binder, node: str, key: bytes, cert: bytes) -> bool:
        """Whether the CA's ``cert`` binds ``node`` to ``key`` (verdicts cached)."""
        h = (node, key, hashlib.blake2b(cert, digest_size=16).digest())
        ok = self._bindings.get(h)
        if ok is None:
            if len(self._bindings) > 4096:
                self._bindings.clear()
            ok = self._bindings[h] = binds(node, key, cert)
        return ok

    def check_statement(self, alive: Alive) -> str | None:
        """The signed Alive a sender's Features carried: checked (a first key pinned), and
        remembered for its own row, which came unsigned in a first-release table."""
        if alive.proof is None or alive.node == self.id:
            return None
        why = self.check_alive(alive.node, alive.addr, alive.generation, alive.incarnation,
                               alive.proof)
        if why is None or why == KNOWN:
            if len(self._stated) > 4096:
                self._stated.clear()
            self._stated[alive.node] = ((alive.addr, alive.generation, alive.incarnation),
                                        alive.proof)
            return None
        return why

    def _mismatch(self, node: str, why: str) -> None:
        self.mismatched = node
        if node not in self._warned and why != "sig_rate_limited":
            self._warned.add(node)
            log.warning("refused node %r: it presents another key than the one pinned for that "
                        "name, and no rotation signed by the pinned key. If the key was replaced "
                        "on purpose, run `gossipreg admin forget-node %s` on this node (each "
                        "node pins on its own)", node, node)

    def check_left(self, node: str, generation: int, incarnation: int,
                   sig: bytes | None) -> str | None:
        """Why a Left (or a LEFT row) may not be applied (None, KNOWN or a reason)."""
        if node == self.id:  # SWIM refutes it; one that is not ours is counted
            return None if sig is not None and self._verified(
                self.public_key, sig, self.payloads.left(node, generation, incarnation)
            ) is None else "unsigned_member" if sig is None else "bad_signature"
        m = self.members.get(node)
        if (m is None or (generation, incarnation) < (m.generation, m.incarnation)
                or m.state is _LEFT):
            return KNOWN
        pinned = self.pins.get(node)
        if sig is None:
            return "unsigned_member" if pinned is not None or self._mode else None
        if pinned is None:
            return "unknown_owner"
        why = self._verified(pinned, sig, self.payloads.left(node, generation, incarnation))
        if why is None:
            old = self._proofs.get(node)
            self._proofs[node] = ((None, generation, incarnation), Proof(
                pinned, sig, old[1].rot if old is not None else None,
                old[1].cert if old is not None else None))
        return why

    def check_suspicion(self, node: str, generation: int, incarnation: int) -> str | None:
        """A Suspect or Dead (unsigned by nature) may not move a signed member past the version
        its own Alive announced."""
        if node == self.id or node not in self.pins:
            return None
        m = self.members.get(node)
        if m is not None and (generation, incarnation) > (m.generation, m.incarnation):
            return "ahead_of_alive"
        return None

    def filter_rows(self, rows: Iterable[MemberRow], sender: str = "") -> tuple[MemberRow, ...]:
        """The rows of a member table that may be merged (the others are dropped and counted;
        the sender's own unsigned row is not logged: a node that joins or restarts speaks
        first-release forms until it knows our features, and then sends its signed Alive)."""
        out = []
        for r in rows:
            if r.proof is None and (st := self._stated.get(r.node)) is not None \
                    and st[0] == (r.addr, r.generation, r.incarnation):
                r = dataclasses.replace(r, proof=st[1])  # its Features carried it, checked
            if r.state is MemberState.ALIVE:
                why = self.check_alive(r.node, r.addr, r.generation, r.incarnation, r.proof)
            elif r.state is _LEFT:
                why = self.check_left(r.node, r.generation, r.incarnation,
                                      r.proof.sig if r.proof is not None else None)
            else:
                why = self.check_suspicion(r.node, r.generation, r.incarnation)
                if why is not None and r.proof is not None:  # proven by its own Alive
                    why = self.check_alive(r.node, r.addr, r.generation, r.incarnation,
                                           r.proof)
            if why is None or why == KNOWN:
                out.append(r)
            else:
                self._drop(why, quiet=r.node == sender and r.proof is None)
        return tuple(out)

    # ----------------------------------------------------------------- pins
    def forget(self, node: str) -> bool:
        """Release ``node``'s name on this node (an operator's call): the next key seen for it
        is pinned. Whether a pin was held."""
        self._proofs.pop(node, None)
        self._absent.pop(node, None)
        self._warned.discard(node)
        m = self.members.get(node)
        if m is not None:
            if len(self._released) > 4096:
                self._released.clear()
            self._released[node] = (m.generation, m.incarnation)
        if self.pins.pop(node, None) is None:
            return False
        self.pins_changed += 1
        return True

    def expire(self, now: float, keep: float) -> None:
        """A pin whose member has not been in the table for ``keep`` s goes (a reaped member,
        or one pinned by an earlier run that has not shown up)."""
        for node in list(self.pins):
            if self.members.get(node) is not None:
                self._absent.pop(node, None)
            elif now >= self._absent.setdefault(node, now + keep):
                self.forget(node)
