"""Free-text search over a capability index: the half of
:class:`~gossipreg.core.search.index.CapabilityIndex` that ranks text (a mixin).

Rules: every put with its record feeds the lexical ranker (``ranker``, BM25F over name,
keywords and text), taken at the next search, each changed agent once; the vector index
(``vectors``, when the node has a model) holds the codes the directory hands it.
:meth:`TextSearch.search` ranks by both (:mod:`~gossipreg.core.search.hybrid`) under the
filters of a capability query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.search.rank import LexicalRanker
from gossipreg.core.types import AgentRecord, AgentStatus

if TYPE_CHECKING:
    from gossipreg.core.search.vecindex import VectorIndex

__all__ = ["TextSearch"]


class Indexed(Protocol):
    """What the search reads of an indexed agent."""

    record: AgentRecord
    status: AgentStatus
    node: str
    ranked: bool

    @property
    def tags(self) -> frozenset[str]: ...


class TextSearch:
    """The free-text half of the capability index (see the module rules)."""

    _agents: Mapping[str, Indexed]
    ranker: LexicalRanker
    vectors: VectorIndex | None
    # Agents whose record the ranker has not taken yet, each once (removed ones: it forgets
    # them); None: every agent with its record (the ranker holds nothing yet).
    _rank_pending: dict[str, None] | None

    def _take_pending(self) -> None:
        """Hand the ranker the record changes since the last search (each agent once)."""
        pending, self._rank_pending = self._rank_pending, {}
        ranker, agents = self.ranker, self._agents
        if pending is None:  # the first search: every agent with its record
            for aid, held in agents.items():
                if held.ranked:
                    ranker.put(aid, held.record)
            return
        for aid in pending:
            a = agents.get(aid)
            if a is None or not a.ranked:
                ranker.remove(aid)
            else:
                ranker.put(aid, a.record)  # replaces what it held for the agent

    def search(self, text: str, *, status: AgentStatus | None = AgentStatus.ACTIVE,
               runtime_id: str | None = None, tags: Sequence[str] = (),
               node_id: str | None = None, limit: int | None = None, offset: int = 0,
               accept: Callable[[str], bool] | None = None,
               query: bytes | None = None) -> list[tuple[str, float]]:
        """``(agent id, score in [0, 1])`` of the agents matching ``text``, best first (ties by
        id), under the filters of :meth:`find` and ``accept`` (a predicate on the id).
        ``query`` is the text's code in the model of :attr:`vectors` (hybrid ranking, see
        :mod:`~gossipreg.core.search.hybrid`); without it the ranking is lexical. Empty text:
        every agent that passes the filters, score 0, by id."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a string, not {type(text).__name__}")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise InvalidArgumentError("limit must be a non-negative integer")
        if type(offset) is not int or offset < 0:
            raise InvalidArgumentError("offset must be a non-negative integer")
        wanted_tags = frozenset(t.lower() for t in tags)
        agents = self._agents

        def passes(aid: str) -> bool:
            a = agents.get(aid)
            return a is not None and (status is None or a.status is status) and (
                runtime_id is None or a.record.runtime_id == runtime_id) and (
                node_id is None or a.node == node_id) and (
                not wanted_tags or wanted_tags <= a.tags) and (accept is None or accept(aid))

        if not text.strip():
            end = None if limit is None else offset + limit
            return [(aid, 0.0) for aid in sorted(filter(passes, agents))[offset:end]]
        if self._rank_pending is None or self._rank_pending:
            self._take_pending()
        from gossipreg.core.search.hybrid import rank  # at the first text search (~0.3 MB)

        return rank(text, query, self.ranker, self.vectors, passes, limit, offset)
