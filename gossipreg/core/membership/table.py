"""SWIM member table and its precedence rules.

A member's version is ``(generation, incarnation)``: a restart raises the generation (and resets
the incarnation), a refutation raises the incarnation. Rules, for a member other than ourselves:
- ALIVE at a higher version replaces any state (a restart or a refutation revives a member);
- SUSPECT at a version >= ours replaces ALIVE; at an equal version it confirms a SUSPECT;
- DEAD at a version >= ours replaces ALIVE or SUSPECT;
- LEFT at a version >= ours replaces any state but LEFT;
- anything about a member we do not know is ignored, except ALIVE (a join).
About ourselves, a SUSPECT or DEAD at our version or above is refuted by raising our incarnation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from gossipreg.core.trust.judge import Trust
from gossipreg.core.types import MemberInfo, MemberState
from gossipreg.core.wire.fields import MemberRow
from gossipreg.core.wire.tags import FEATURES

__all__ = ["Member", "MemberChange", "MemberTable"]


_EARLY_MAX = 64  # features kept for names not yet members
_HASH_MASK = (1 << 128) - 1  # the table hash: a sum of 128-bit row hashes, modulo 2^128


def _row_hash(m: Member) -> int:
    """A member's share of the table hash: a hash of ``(id, generation, incarnation, state)``."""
    text = f"{m.node_id}\0{m.generation}\0{m.incarnation}\0{int(m.state)}\n".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "little")


_SEQ = attrgetter("seq")


class Member:
    """One row; ``since`` is the local time of the last state change."""

    __slots__ = ("addr", "features", "features_generation", "generation", "hashed",
                 "incarnation", "node_id", "seq", "since", "state")

    def __init__(self, node_id: str, addr: str, generation: int, incarnation: int,
                 state: MemberState, since: float) -> None:
        self.node_id = node_id
        self.addr = addr
        self.generation = generation
        self.incarnation = incarnation
        self.state = state
        self.since = since
        # Feature bits the member announced for ``features_generation`` (0 and 0: none heard,
        # a previous release); they hold only while that generation runs.
        self.features = 0
        self.features_generation = 0
        self.seq = 0  # its place in the table's order (see MemberTable.in_order)
        self.hashed = 0  # its share of the table hash, as last added (see MemberTable)

    @property
    def version(self) -> tuple[int, int]:
        return self.generation, self.incarnation

    def info(self) -> MemberInfo:
        return MemberInfo(self.node_id, self.addr, self.state, self.incarnation, self.generation,
                          self.features if self.features_generation == self.generation else 0)

    @property
    def features_known(self) -> bool:
        """Whether the running generation announced its features (0 bits is an answer too)."""
        return self.features_generation == self.generation

    def understands(self, bits: int) -> bool:
        """Whether the running generation announced every feature in ``bits``."""
        return self.features_generation == self.generation and self.features & bits == bits


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A state transition; ``old`` is None for a member we did not know."""

    node_id: str
    old: MemberState | None
    new: MemberState
    restarted: bool = False


class _Sampled:
    """A set of ids kept as a list too (O(1) add and remove, O(k) random sampling)."""

    __slots__ = ("_pos", "ids")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._pos: dict[str, int] = {}

    def put(self, node_id: str, member: bool) -> None:
        """Make ``node_id`` a member of the set, or not."""
        pos = self._pos.get(node_id)
        if member and pos is None:
            self._pos[node_id] = len(self.ids)
            self.ids.append(node_id)
        elif not member and pos is not None:
            last = self.ids.pop()
            if last != node_id:
                self.ids[pos] = last
                self._pos[last] = pos
            del self._pos[node_id]


class MemberTable:
    """All members, including ourselves (always ALIVE while we run)."""

    def __init__(self, self_id: str, addr: str, generation: int, now: float,
                 features: int = 0) -> None:
        self.self_id = self_id
        me = Member(self_id, addr, generation, 0, MemberState.ALIVE, now)
        # We announce this release's bits and ``features``, the paths our transport offers.
        me.features, me.features_generation = FEATURES | features, generation
        self._m: dict[str, Member] = {self_id: me}
        # The table hash, kept up to date on every change (~1 us a row) instead of hashing
        # every sorted row per exchange (272 us at 1,000 members, twice per exchange): the
        # sum of the rows' hashes.
        self._hash_sum = 0
        self._rehash(me)
        self._early: dict[str, tuple[int, int]] = {}  # features of names not yet members
        self._counts = {s: 0 for s in MemberState}
        self._counts[MemberState.ALIVE] = 1
        # Other members that are ALIVE or SUSPECT, and those ALIVE, for O(k) random sampling.
        self._live = _Sampled()
        self._alive = _Sampled()
        self._by_addr: dict[str, str] = {addr: self_id}  # address -> the last member to claim it
        self._next_seq = 1  # Member.seq of the next one added (ourselves: 0)

    # ------------------------------------------------------------------- reads
    @property
    def me(self) -> Member:
        return self._m[self.self_id]

    def get(self, node_id: str) -> Member | None:
        return self._m.get(node_id)

    def in_order(self, ids: Iterable[str], state: MemberState) -> list[Member]:
        """The members among ``ids`` (distinct) that are in ``state``, in the order the table
        iterates (that of their addition: a member is never moved, only removed): what a
        filter of the whole table would list, for the cost of ``ids``."""
        out = [m for i in ids if (m := self._m.get(i)) is not None and m.state is state]
        out.sort(key=_SEQ)
        return out

    def by_addr(self, addr: str) -> Member | None:
        """The member reached at ``addr`` (the latest to claim it), if any."""
        m = self._m.get(self._by_addr.get(addr, ""))
        return m if m is not None and m.addr == addr else None

    def __iter__(self) -> Iterator[Member]:
        return iter(self._m.values())

    def __len__(self) -> int:
        return len(self._m)

    def count(self, state: MemberState) -> int:
        return self._counts[state]

    def live_count(self) -> int:
        """Members believed running: ALIVE or SUSPECT, ourselves included."""
        return self._counts[MemberState.ALIVE] + self._counts[MemberState.SUSPECT]

    @property
    def live_others(self) -> list[str]:
        """Ids of the other members that are ALIVE or SUSPECT (read-only; order is arbitrary
        but deterministic)."""
        return self._live.ids

    @property
    def alive_others(self) -> list[str]:
        """Ids of the other members that are ALIVE (read-only, like :attr:`live_others`)."""
        return self._alive.ids

    def _track(self, m: Member) -> None:
        if m.node_id != self.self_id:
            self._live.put(m.node_id, m.state.running)
            self._alive.put(m.node_id, m.state is MemberState.ALIVE)

    def digest_hash(self) -> bytes:
        """Hash of ``(id, generation, incarnation, state)`` of every member: equal tables give
        equal hashes, so a push-pull can skip sending the table. It is the sum modulo 2^128 of
        each row's 128-bit BLAKE2b hash (independent of order, updated row by row); a node of
        a release that hashed the sorted rows as one text sees it differ, and sends its table
        (what unequal tables cost)."""
        return self._hash_sum.to_bytes(16, "little")

    def _rehash(self, m: Member) -> None:
        """Take ``m``'s new ``(generation, incarnation, state)`` into the table hash."""
        new = _row_hash(m)
        self._hash_sum = (self._hash_sum - m.hashed + new) & _HASH_MASK
        m.hashed = new

    def rows(self, trust: Trust | None = None) -> tuple[MemberRow, ...]:
        """Every member as a table exchange carries it; with ``trust``, each row with its
        member's own signed statement (ours signed here)."""
        if trust is None:
            return tuple(MemberRow(m.node_id, m.addr, m.generation, m.incarnation, m.state)
                         for m in self._m.values())
        me = self.self_id
        return tuple(MemberRow(m.node_id, m.addr, m.generation, m.incarnation, m.state,
                               trust.own_proof(m.addr, m.generation, m.incarnation)
                               if m.node_id == me else trust.proof_of(
                                   m.node_id, m.addr, m.generation, m.incarnation))
                     for m in self._m.values())

    def features_rows(self) -> tuple[tuple[str, int, int], ...]:
        """``(node, generation, bits)`` of every member whose running generation announced
        its features (what a table exchange carries beside the table)."""
        return tuple((m.node_id, m.generation, m.features) for m in self._m.values()
                     if m.features_generation == m.generation)

    def features_held(self, rows: object) -> bool:
        """Whether the raw rows of a Features message tell nothing new: each names ourselves,
        an older generation than the one we hold, or bits we hold already for its generation
        (:meth:`set_features` would ignore every one; a member we do not know yet is news: its
        row is kept until it is added). False when unsure: then the message is parsed and
        validated in full."""
        if type(rows) is not list:
            return False
        get, me = self._m.get, self.self_id
        for row in rows:
            if type(row) is not list or len(row) < 3 or type(row[0]) is not str:
                return False
            m = get(row[0])
            generation = row[1]
            if row[0] == me:
                continue
            if m is None:
                return False
            if type(generation) is not int:
                return False
            if generation < m.generation:
                continue
            if m.features_generation != generation or m.features != row[2]:
                return False
        return True

    def alive_held(self, node_id: object, generation: object, incarnation: object) -> bool:
        """Whether an Alive at ``(generation, incarnation)`` tells nothing new: we hold another
        member ``node_id`` at that version or a newer one (:meth:`alive` would return None).
        False when unsure, including for values of the wrong type (full validation follows)."""
        if type(node_id) is not str or type(generation) is not int or type(
                incarnation) is not int or node_id == self.self_id:
            return False
        m = self._m.get(node_id)
        return m is not None and (generation < m.generation or (
            generation == m.generation and incarnation <= m.incarnation))

    # ----------------------------------------------------------------- writes
    def set_features(self, node_id: str, generation: int, bits: int) -> bool:
        """Record what a member announced; whether it was news. Rows for an older generation
        than the one we know are ignored; those of a member we do not know yet are kept (a
        few) until it is added: a joiner's features come just before its join."""
        m = self._m.get(node_id)
        if m is None and node_id != self.self_id:
            if len(self._early) >= _EARLY_MAX:
                self._early.clear()  # bounded: a flood of unknown names forgets them all
            self._early[node_id] = (generation, bits)
            return False
        if m is None or node_id == self.self_id or generation < m.generation:
            return False
        if m.features_generation == generation:
            # A generation's bits only grow (REQUIRES_SIGNATURES once it settles): a stale
            # relayed row cannot take one back.
            bits |= m.features
            if m.features == bits:
                return False
        m.features, m.features_generation = bits, generation
        return True

    def _set(self, m: Member, state: MemberState, now: float) -> None:
        self._counts[m.state] -= 1
        self._counts[state] += 1
        m.state = state
        m.since = now
        self._rehash(m)
        self._track(m)

    def _add(self, node_id: str, addr: str, generation: int, incarnation: int,
             state: MemberState, now: float) -> Member:
        m = Member(node_id, addr, generation, incarnation, state, now)
        m.seq = self._next_seq
        self._next_seq += 1
        early = self._early.pop(node_id, None)
        if early is not None and early[0] == generation:
            m.features, m.features_generation = early[1], generation
        self._m[node_id] = m
        self._by_addr[addr] = node_id
        self._counts[state] += 1
        self._rehash(m)
        self._track(m)
        return m

    def alive(self, node_id: str, addr: str, generation: int, incarnation: int,
              now: float) -> MemberChange | None:
        m = self._m.get(node_id)
        if node_id == self.self_id:
            return None
        if m is None:
            self._add(node_id, addr, generation, incarnation, MemberState.ALIVE, now)
            return MemberChange(node_id, None, MemberState.ALIVE)
        if (generation, incarnation) <= m.version:
            return None
        restarted = generation > m.generation
        old = m.state
        m.generation, m.incarnation, m.addr = generation, incarnation, addr
        self._by_addr[addr] = node_id
        if old is not MemberState.ALIVE or restarted:
            self._set(m, MemberState.ALIVE, now)
        else:
            self._rehash(m)
        # Also a bare incarnation bump is news: it is a refutation that must outrun the
        # suspicions still in flight, so the caller re-gossips it.
        return MemberChange(node_id, old, MemberState.ALIVE, restarted)

    def suspect(self, node_id: str, generation: int, incarnation: int,
                now: float) -> MemberChange | None:
        """Mark SUSPECT; returns the change, or None (stale, unknown, already worse)."""
        m = self._m.get(node_id)
        if m is None or node_id == self.self_id or (generation, incarnation) < m.version:
            return None
        if m.state is not MemberState.ALIVE:
            return None
        m.generation, m.incarnation = generation, incarnation
        self._set(m, MemberState.SUSPECT, now)
        return MemberChange(node_id, MemberState.ALIVE, MemberState.SUSPECT)

    def dead(self, node_id: str, generation: int, incarnation: int,
             now: float, left: bool = False) -> MemberChange | None:
        """Mark DEAD (or LEFT when ``left``)."""
        new = MemberState.LEFT if left else MemberState.DEAD
        m = self._m.get(node_id)
        if node_id == self.self_id:
            return None
        if m is None:
            return None
        if (generation, incarnation) < m.version or m.state is MemberState.LEFT:
            return None
        if m.state is MemberState.DEAD and not left:
            return None
        old = m.state
        m.generation, m.incarnation = generation, incarnation
        self._set(m, new, now)
        return MemberChange(node_id, old, new)

    def refute(self, incarnation: int) -> int:
        """Raise our incarnation above ``incarnation``; returns the new one."""
        me = self.me
        me.incarnation = max(me.incarnation, incarnation) + 1
        self._rehash(me)
        return me.incarnation

    def set_self_left(self, now: float) -> None:
        self._set(self.me, MemberState.LEFT, now)

    def remove(self, node_id: str) -> None:
        m = self._m.get(node_id)
        if m is not None:
            self._counts[m.state] -= 1
            m.state = MemberState.LEFT  # so that _track drops it from the live list
            self._track(m)
            del self._m[node_id]
            if self._by_addr.get(m.addr) == node_id:
                del self._by_addr[m.addr]
            self._hash_sum = (self._hash_sum - m.hashed) & _HASH_MASK

    def info(self) -> list[MemberInfo]:
        return [m.info() for m in self._m.values()]
