"""What the API embedders share: prefixes, batching, the vector length and error mapping."""

from __future__ import annotations

from abc import ABC, abstractmethod

from gossipreg.core.search.vectors import MAX_DIMS, VectorError, check_model_tag
from gossipreg.io.embed.errors import EmbedderConfigError, EmbedderError
from gossipreg.io.embed.protocol import Purpose, check_texts, checked_vectors

__all__ = ["RemoteEmbedder"]


class RemoteEmbedder(ABC):
    """An embedder that asks a server. Subclasses implement :meth:`_request` for one batch.

    ``dims``, if set, is asked of the server (both APIs take a ``dimensions`` field) and a longer
    answer is cut to it; if not set, the length of the first answer is learnt and every later
    answer must match it. ``query_prefix`` and ``passage_prefix`` are prepended to the texts
    (asymmetric models want them, e.g. ``"search_query: "`` for nomic-embed-text).
    """

    provider = "remote"

    def __init__(self, model: str, *, dims: int | None = None, batch_size: int = 64,
                 query_prefix: str = "", passage_prefix: str = "") -> None:
        if not model or model != model.strip():
            raise EmbedderConfigError(f"bad {self.provider} model name {model!r}")
        if dims is not None and not 0 < dims <= MAX_DIMS:
            raise EmbedderConfigError(f"dims must be in 1..{MAX_DIMS}, not {dims}")
        if batch_size < 1:
            raise EmbedderConfigError("batch_size must be positive")
        try:
            self._model_id = check_model_tag(f"{self.provider}/{model}")
        except VectorError as e:
            raise EmbedderConfigError(f"model name {model!r} cannot make a model tag: "
                                      f"{e.detail}") from None
        self.model = model
        self._wanted = dims
        self._dims = dims or 0
        self._batch_size = batch_size
        self._prefix: dict[Purpose, str] = {"query": query_prefix, "passage": passage_prefix}

    @property
    def model_id(self) -> str:
        """``<provider>/<model>``, e.g. ``ollama/nomic-embed-text``."""
        return self._model_id

    @property
    def dims(self) -> int:
        """The vector length: as configured, else learnt from the first answer (0 before)."""
        return self._dims

    @abstractmethod
    async def _request(self, texts: list[str]) -> object:
        """The server's vectors for one batch (any sequence of sequences of numbers)."""

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed through the server, ``batch_size`` texts per request. Raises EmbedderError."""
        texts = check_texts(texts)
        prefix = self._prefix[purpose]
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [prefix + t for t in texts[start : start + self._batch_size]]
            try:
                raw = await self._request(batch)
            except EmbedderError:
                raise
            except Exception as e:  # the client's own errors: connection, HTTP status, parsing
                raise EmbedderError(f"{self.model_id}: {type(e).__name__}: {e}") from e
            vectors = checked_vectors(raw, len(batch), self._dims, source=self.model_id,
                                      shorten=self._wanted is not None)
            if vectors and not self._dims:
                self._dims = len(vectors[0])
            out.extend(vectors)
        return out
