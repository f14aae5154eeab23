"""Which vectors a node's search uses for each visible agent, and which records still need some.

Rules:
- The node's model (:meth:`VectorFeed.use`): a model tag and a vector length. Vectors of
  another tag are ignored here (the replica still holds and relays them); vectors of our tag
  and another length, and ``vec/`` values that failed their checks, are ignored and reported
  to ``on_bad`` (the node counts them as the drop reason ``bad_vectors``).
- Sources, per agent: the vectors this node computed for the record it shows (local), else the
  vectors the shown record's owner wrote under ``vec/<id>`` in our model. Local vectors belong
  to one record: when another record is shown they are dropped (and the new one is queued).
- Work (what the node's embedder must do): ``embeds="all"`` (a model on every node) queues
  every record shown that has no local vectors; ``embeds="own"`` (an API model: the owner
  embeds once for everyone) queues the records this node owns that carry no vectors in our
  model yet. The host takes the queue, embeds outside the core, and hands the codes back
  (:meth:`VectorFeed.put_local`, or the owner's ``vec/`` write); a record no longer shown by
  then is ignored.
- Never a rescan: each change touches one agent; :meth:`use` alone walks the visible agents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, Protocol

from gossipreg.core.directory.records import VEC, BadVectors
from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.search.vectors import VectorSet, check_model_tag
from gossipreg.core.types import AgentRecord, AgentView

__all__ = ["Embeds", "VectorFeed", "VectorInputs"]

Embeds = Literal["all", "own"]


class _Store(Protocol):
    def value(self, owner: str, key: str) -> Any: ...


class VectorFeed:
    """Keeps ``index.vectors`` equal to the vectors each visible agent should be ranked by."""

    def __init__(self, self_id: str, index: CapabilityIndex, visible: dict[str, AgentView],
                 store: _Store) -> None:
        self.self_id = self_id
        self._index = index
        self._visible = visible
        self._store = store
        self.model: str | None = None
        self.dims = 0
        self.embeds: Embeds | None = None
        self._local: dict[str, AgentRecord] = {}  # agent -> the record its local codes are of
        self._work: dict[str, None] = {}  # agents waiting for the embedder, in order
        self.on_bad: Callable[[str], None] = lambda reason: None

    def use(self, model: str, dims: int, embeds: Embeds | None) -> None:
        """Rank by vectors of ``model`` (``dims`` long); ``embeds`` says which records this
        node's embedder takes (None: none, only owners' vectors are used)."""
        from gossipreg.core.search.vecindex import VectorIndex  # with a model only

        self.model, self.dims, self.embeds = check_model_tag(model), dims, embeds
        self._index.vectors = VectorIndex(dims)
        self._local.clear()
        self._work.clear()
        for aid in sorted(self._visible):
            self.shown(self._visible[aid])

    @property
    def active(self) -> bool:
        """Whether a model is set (search may then be hybrid)."""
        return self._index.vectors is not None

    def with_vectors(self) -> int:
        """Visible agents ranked with vectors."""
        v = self._index.vectors
        return 0 if v is None else len(v)

    def pending(self) -> int:
        """Records waiting for this node's embedder."""
        return len(self._work)

    # ---------------------------------------------------------------- changes
    def shown(self, v: AgentView) -> None:
        """A record became visible, or another record (or owner) is shown for its agent."""
        if not self.active:
            return
        aid = v.record.agent_id
        if self._local.get(aid) is not v.record:
            self._local.pop(aid, None)
        self._refresh(aid)
        mine = v.node_id == self.self_id and self._owner_set(aid, v.node_id) is None
        if aid not in self._local and (self.embeds == "all" or (self.embeds == "own" and mine)):
            self._work[aid] = None

    def gone(self, agent_id: str) -> None:
        """The agent is no longer visible."""
        self._local.pop(agent_id, None)
        self._work.pop(agent_id, None)
        if self._index.vectors is not None:
            self._index.vectors.remove(agent_id)

    def owner_wrote(self, agent_id: str, owner: str, value: object) -> None:
        """A ``vec/`` key changed (``value`` None: deleted)."""
        if type(value) is BadVectors:
            self.on_bad(value.reason)
            return
        if (type(value) is VectorSet and value.model == self.model
                and value.dims != self.dims):
            self.on_bad("dims")
            return
        v = self._visible.get(agent_id)
        if self.active and v is not None and v.node_id == owner:
            self._refresh(agent_id)
            if self.embeds == "own" and self._owner_set(agent_id, owner) is not None:
                self._work.pop(agent_id, None)

    # ------------------------------------------------------------------- work
    def take_work(self, n: int) -> list[tuple[str, AgentRecord]]:
        """Up to ``n`` records for the embedder, oldest first (taken off the queue)."""
        out: list[tuple[str, AgentRecord]] = []
        while self._work and len(out) < n:
            aid = next(iter(self._work))
            del self._work[aid]
            v = self._visible.get(aid)
            if v is not None:
                out.append((aid, v.record))
        return out

    def requeue(self, items: Iterable[tuple[str, AgentRecord]]) -> None:
        """Give back records the embedder could not do (they are taken again later)."""
        for aid, record in items:
            v = self._visible.get(aid)
            if v is not None and v.record is record and aid not in self._local:
                self._work[aid] = None

    def put_local(self, agent_id: str, record: AgentRecord, vs: VectorSet) -> bool:
        """Codes this node's embedder made for ``record``; False (ignored) when the record is no
        longer the one shown or the vectors are not of our model."""
        v = self._visible.get(agent_id)
        if v is None or v.record is not record or not self._ours(vs):
            return False
        self._local[agent_id] = record
        vectors = self._index.vectors
        assert vectors is not None
        vectors.put(agent_id, vs.codes)
        return True

    # --------------------------------------------------------------- helpers
    def _ours(self, vs: VectorSet) -> bool:
        return self.active and vs.model == self.model and vs.dims == self.dims

    def _owner_set(self, agent_id: str, owner: str) -> VectorSet | None:
        vs = self._store.value(owner, VEC + agent_id)
        return vs if type(vs) is VectorSet and self._ours(vs) else None

    def _refresh(self, agent_id: str) -> None:
        """Index the vectors this agent should be ranked by (see the module rules)."""
        vectors = self._index.vectors
        if vectors is None or agent_id in self._local:
            return
        v = self._visible.get(agent_id)
        vs = None if v is None else self._owner_set(agent_id, v.node_id)
        if vs is None:
            vectors.remove(agent_id)
        else:
            vectors.put(agent_id, vs.codes)


class _Writer(Protocol):
    def write_vectors(self, record: AgentRecord, vectors: VectorSet, now: float) -> bool: ...


class VectorInputs:
    """A node's inputs about search vectors (``Node.vectors``): choose the model, take the
    records to embed, hand their codes back. ``flush`` ends an input that wrote (a ``vec/``
    write is gossiped like any owner write)."""

    def __init__(self, feed: VectorFeed, owner: _Writer, flush: Callable[[float], None]) -> None:
        self._feed = feed
        self._owner = owner
        self._flush = flush

    def use(self, model: str, dims: int, embeds: Embeds | None) -> None:
        """Rank searches by vectors of ``model`` too (see :meth:`VectorFeed.use`)."""
        self._feed.use(model, dims, embeds)

    def take(self, n: int) -> list[tuple[str, AgentRecord]]:
        """Up to ``n`` records to embed, taken off the queue."""
        return self._feed.take_work(n)

    def requeue(self, items: Iterable[tuple[str, AgentRecord]]) -> None:
        """Records taken but not embedded (the embedder failed): queued again."""
        self._feed.requeue(items)

    def put(self, record: AgentRecord, vectors: VectorSet, now: float) -> bool:
        """The codes of ``record`` in the node's model. With ``embeds="own"`` the owner writes
        them under ``vec/<id>`` (every node with the same model uses them); otherwise they are
        this node's alone. False when the record is no longer the one shown (ignored)."""
        if self._feed.embeds != "own":
            return self._feed.put_local(record.agent_id, record, vectors)
        ok = self._owner.write_vectors(record, vectors, now)
        self._flush(now)
        return ok
