"""Search vectors for a running node: the records its core queues are embedded in the
background, and a query's text becomes a code.

Rules:
- One asyncio task per node, woken (:meth:`VectorWorker.poke`) after the node's inputs. It
  takes up to ``batch`` records from the core (``Node.vectors.take``), embeds their evidence
  texts (:func:`~gossipreg.core.search.terms.evidence_texts`) in one call, quantises them to
  int8 and hands each record's set back (``Node.vectors.put``). The local model runs in a worker
  thread (embedding and quantising both), an API model through its async client; the event
  loop only hands codes over. A registration never waits for this: the record is searchable
  lexically at once, and with vectors once its batch is done.
- Ready first: the local model is loaded (in a thread), an API model whose vector length was
  not configured is asked once to learn it; then ``on_ready(dims)`` (the runner tells the core
  the model) and the work starts. Until then searches are lexical.
- A failed batch goes back to the queue, and the worker waits (1 s, doubling to 60 s) before
  the next try; the first failure of a run of them is logged, and :attr:`last_error` keeps it.
- Query codes: :meth:`query_code` answers in the calling thread (the local model, about a
  millisecond), or from a small cache of recent queries for an API model;
  :meth:`query_code_async` asks an API model, bounded by ``query_timeout``. A query that cannot
  be embedded is ranked lexically (None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from gossipreg.core.errors import GossipregError
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vectors import VectorError, VectorSet, quantize
from gossipreg.core.types import AgentRecord
from gossipreg.io.embed.protocol import Embedder

__all__ = ["Inputs", "VectorWorker"]

log = logging.getLogger("gossipreg.io.embed")

_BACKOFF = (1.0, 60.0)
_CACHE = 256


class Inputs(Protocol):
    """The part of ``Node.vectors`` the worker uses."""

    def take(self, n: int) -> list[tuple[str, AgentRecord]]: ...
    def requeue(self, items: list[tuple[str, AgentRecord]]) -> None: ...
    def put(self, record: AgentRecord, vectors: VectorSet, now: float) -> bool: ...


def _codes_in_thread(embedder: Embedder) -> Callable[[list[str]], list[bytes]] | None:
    """A blocking texts -> codes function for a model that runs in this process (the local
    model's own ``codes_sync``, or ``embed_sync`` quantised), None for a service."""
    codes = getattr(embedder, "codes_sync", None)
    if callable(codes):
        return codes  # type: ignore[no-any-return]
    embed = getattr(embedder, "embed_sync", None)
    if callable(embed):
        return lambda texts: [quantize(v) for v in embed(texts)]
    return None


class VectorWorker:
    """Embeds a node's queued records (see the module rules). ``inputs`` is the core's
    ``Node.vectors``; ``now`` the runner's clock; ``after`` runs after each batch was handed
    over (the runner's pump)."""

    def __init__(self, embedder: Embedder, inputs: Inputs, now: Callable[[], float],
                 after: Callable[[], object], on_ready: Callable[[int], object], *,
                 batch: int = 32, query_timeout: float = 2.0) -> None:
        self.embedder = embedder
        self.model = embedder.model_id
        self._inputs = inputs
        self._now = now
        self._after = after
        self._on_ready = on_ready
        self.ready = False
        self._batch = batch
        self._query_timeout = query_timeout
        self._codes = _codes_in_thread(embedder)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self.last_error: str | None = None
        self.embedded = 0  # records handed over
        self.seconds = 0.0  # spent embedding them (wall time of the batches)

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the background task (in the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="vectors")
            self._wake.set()

    def poke(self) -> None:
        """The core may have queued records: look again."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the task (a batch in a thread finishes there; its result is dropped)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------- work
    async def _start(self) -> None:
        """Load the model, or learn an API model's vector length; then ``on_ready``."""
        delay = _BACKOFF[0]
        while True:
            try:
                load = getattr(self.embedder, "load", None)
                if callable(load):
                    await asyncio.to_thread(load)
                dims = self.embedder.dims or len((await self._embed_texts(["probe"], "query"))[0])
                break
            except (GossipregError, VectorError) as e:
                self._failed(f"could not start: {e}", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF[1])
        self.last_error = None
        self.ready = True
        self._on_ready(dims)

    def _failed(self, what: str, delay: float) -> None:
        if self.last_error is None:
            log.warning("search vectors: %s %s; retrying in %.0f s, lexical ranking meanwhile",
                        self.model, what, delay)
        self.last_error = what

    async def _run(self) -> None:
        await self._start()
        delay = _BACKOFF[0]
        while True:
            await self._wake.wait()
            self._wake.clear()
            while items := self._inputs.take(self._batch):
                try:
                    await self._embed(items)
                except (GossipregError, VectorError) as e:
                    self._inputs.requeue(items)
                    self._failed(f"could not embed {len(items)} records: {e}", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _BACKOFF[1])
                    continue
                delay = _BACKOFF[0]
                if self.last_error is not None:
                    log.warning("search vectors: %s embeds again", self.model)
                    self.last_error = None
                self._after()

    async def _embed(self, items: list[tuple[str, AgentRecord]]) -> None:
        texts: list[str] = []
        spans: list[tuple[AgentRecord, int, int]] = []
        for _, record in items:
            ev = evidence_texts(record)
            spans.append((record, len(texts), len(texts) + len(ev)))
            texts.extend(ev)
        t0 = time.perf_counter()
        codes = await self._embed_texts(texts, "passage")
        self.seconds += time.perf_counter() - t0
        dims = len(codes[0]) if codes else 0
        now = self._now()
        for record, lo, hi in spans:
            self._inputs.put(record, VectorSet(self.model, dims, tuple(codes[lo:hi])), now)
            self.embedded += 1

    async def _embed_texts(self, texts: list[str], purpose: str) -> list[bytes]:
        if self._codes is not None:
            return await asyncio.to_thread(self._codes, texts)
        vectors = await self.embedder.embed(texts, purpose="query" if purpose == "query"
                                            else "passage")
        return await asyncio.to_thread(lambda: [quantize(v) for v in vectors])

    # ---------------------------------------------------------------- queries
    def query_code(self, text: str) -> bytes | None:
        """The code of a query's text now, in the calling thread: the local model embeds it;
        an API model's code comes from the cache of recent queries, or None (lexical)."""
        code = self._cache.get(text)
        if code is None and self._codes is not None and self.ready:
            try:
                code = self._codes([text])[0]
            except GossipregError as e:
                self.last_error = str(e)
                return None
            self._remember(text, code)
        return code

    async def query_code_async(self, text: str) -> bytes | None:
        """The code of a query's text, asking an API model (at most ``query_timeout`` s);
        None when it cannot be had (the search is then lexical)."""
        if self._codes is not None or text in self._cache or not self.ready:
            return self.query_code(text)
        try:
            [code] = await asyncio.wait_for(self._embed_texts([text], "query"),
                                            self._query_timeout)
        except (GossipregError, VectorError, TimeoutError, ValueError) as e:
            self.last_error = f"query: {e or type(e).__name__}"
            return None
        self._remember(text, code)
        return code

    def _remember(self, text: str, code: bytes) -> None:
        self._cache[text] = code
        if len(self._cache) > _CACHE:
            self._cache.popitem(last=False)
