"""Free-text search on a running node: the embedder ``NodeConfig.embedder`` names, the worker
that embeds records, and hybrid (or lexical) ranking of queries.

Rules:
- ``embedder``: ``auto`` is the local model when the semantic extra is importable, else off;
  ``off`` (or None) is off; anything else is a spec of
  :func:`~gossipreg.io.embed.make_embedder`. A bad spec, a missing API key or (for an explicit
  spec) a missing package raises ConfigError when the runner is made; under ``auto`` a missing
  extra means lexical search.
- Who embeds what: a model that runs in the process (one with ``embed_sync``, like the local
  one) embeds every record on every node (each node its own, ``embeds="all"``); an API model
  embeds only the records its node owns, and the owner writes the vectors under ``vec/<id>``
  for every node of the same model (``embeds="own"``).
- Lexical only is said once: a log line when the node starts (with the reason) and
  :meth:`NodeSearch.status` (``GET /v1/health``'s ``search``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from gossipreg.core.directory.vectors import Embeds
from gossipreg.core.node import Node
from gossipreg.core.search.rank import SearchHit

if TYPE_CHECKING:  # imported when an embedder is asked for: a node without one needs neither
    from gossipreg.io.embed import Embedder
    from gossipreg.io.embed.worker import VectorWorker

__all__ = ["NodeSearch", "SearchCalls", "resolve_embedder"]

log = logging.getLogger("gossipreg.io.search")


def resolve_embedder(spec: str | None) -> tuple[Embedder | None, str]:
    """The embedder ``spec`` names (see the module rules), or None and why search is lexical.
    Raises ConfigError (EmbedderConfigError) for a spec that cannot work."""
    head, _, options = (spec or "off").strip().partition(",")
    if head.strip().lower() in ("off", "none", ""):
        return None, "the embedder is off (embedder = off)"
    from gossipreg.io.embed import INSTALL_HINT, EmbedderUnavailableError, make_embedder

    if head.strip().lower() == "auto":
        try:
            return make_embedder("local" + (f",{options}" if options else "")), ""
        except EmbedderUnavailableError:
            return None, f"the semantic extra is not installed: {INSTALL_HINT}"
    return make_embedder(spec), ""


class NodeSearch:
    """The search side of one runner: its embedder (or why none) and vector worker."""

    def __init__(self, name: str, spec: str | None, embedder: Embedder | None = None) -> None:
        self.name = name
        self.embedder, self.reason = (embedder, "") if embedder else resolve_embedder(spec)
        # A model that runs here embeds every record on every node; a service, the owner's.
        local = callable(getattr(self.embedder, "embed_sync", None))
        self.embeds: Embeds = "all" if local else "own"
        self.worker: VectorWorker | None = None
        self._core: Node | None = None

    def start(self, core: Node, now: Callable[[], float], pump: Callable[[], object]) -> None:
        """Start embedding for ``core`` (or say once that search is lexical only)."""
        self._core = core
        if self.embedder is None:
            log.warning("node %s: search is lexical only: %s", self.name, self.reason)
            return
        embedder, embeds = self.embedder, self.embeds

        def ready(dims: int) -> None:
            core.vectors.use(embedder.model_id, dims, embeds)
            pump()
            log.info("node %s: search is hybrid: lexical and %s vectors (%d dims; %s)",
                     self.name, embedder.model_id, dims,
                     "every record embedded here" if embeds == "all"
                     else "owners write the vectors of their records")

        from gossipreg.io.embed.worker import VectorWorker

        self.worker = VectorWorker(embedder, core.vectors, now, pump, ready)
        self.worker.start()

    def poke(self) -> None:
        if self.worker is not None:
            self.worker.poke()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()

    def status(self) -> dict[str, Any]:
        """How searches are ranked now (the ``search`` field of ``GET /v1/health``)."""
        mode = self._core.read.search_mode() if self._core is not None else None
        if mode is None or mode.model is None:
            why = self.reason or (f"{self.embedder.model_id} is not ready"
                                  if self.embedder is not None else "")
            out: dict[str, Any] = {"mode": "lexical", "reason": why}
        else:
            out = {"mode": "hybrid", "model": mode.model, "dims": mode.dims,
                   "embeds": self.embeds, "agents_with_vectors": mode.with_vectors,
                   "pending": mode.pending}
        if self.worker is not None and self.worker.last_error:
            out["error"] = self.worker.last_error
        return out


class _Runner(Protocol):
    @property
    def core(self) -> Node: ...

    @property
    def searching(self) -> NodeSearch: ...


class SearchCalls:
    """The search calls of :class:`~gossipreg.io.runner.NodeRunner` (a mixin)."""

    def search(self: _Runner, text: str, filters: Mapping[str, Any] | None = None,
               limit: int | None = 10, offset: int = 0, *,
               verified_only: bool = False) -> list[SearchHit]:
        """Agents ranked for free ``text`` with scores in [0, 1], answered locally: hybrid
        (lexical and vectors) when the node has a model and the query a code now (the local
        model embeds it here; an API model's recent queries are cached), else lexical.
        ``filters`` is ARD's query model: ``{"tags": ["finance"], "runtime": "rt-1"}`` (OR
        within a key, AND across keys; ACTIVE only unless ``status`` is given); ``verified_only``
        keeps agents whose card signature this node verified."""
        worker = self.searching.worker
        code = worker.query_code(text) if worker is not None and text.strip() else None
        return self.core.read.search(text, filters, limit, offset, code,
                                     verified_only=verified_only)

    async def search_async(self: _Runner, text: str, filters: Mapping[str, Any] | None = None,
                           limit: int | None = 10, offset: int = 0, *,
                           verified_only: bool = False) -> list[SearchHit]:
        """:meth:`search`, asking an API model for the query's code when needed (bounded by
        a timeout; lexical if it fails)."""
        worker = self.searching.worker
        code = (await worker.query_code_async(text)
                if worker is not None and text.strip() else None)
        return self.core.read.search(text, filters, limit, offset, code,
                                     verified_only=verified_only)
