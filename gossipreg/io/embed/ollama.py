"""Embeddings from an Ollama server (``POST /api/embed``) through the official ``ollama`` client."""

from __future__ import annotations

from gossipreg.io.embed.errors import EmbedderUnavailableError
from gossipreg.io.embed.remote import RemoteEmbedder

__all__ = ["OllamaEmbedder"]


class OllamaEmbedder(RemoteEmbedder):
    """``ollama.AsyncClient(host=...).embed(model=..., input=[...])``.

    ``host`` is the server's base URL (``None``: the client's default, ``$OLLAMA_HOST`` or
    ``http://127.0.0.1:11434``); ``timeout`` bounds one request, in seconds. The other
    arguments are :class:`~gossipreg.io.embed.remote.RemoteEmbedder`'s. Raises
    EmbedderUnavailableError if ``ollama`` is not installed.
    """

    provider = "ollama"

    def __init__(self, model: str, *, host: str | None = None, dims: int | None = None,
                 timeout: float = 30.0, batch_size: int = 64, query_prefix: str = "",
                 passage_prefix: str = "") -> None:
        super().__init__(model, dims=dims, batch_size=batch_size, query_prefix=query_prefix,
                         passage_prefix=passage_prefix)
        try:
            import ollama
        except ImportError:
            raise EmbedderUnavailableError("ollama") from None
        self.host = host
        self._client = ollama.AsyncClient(host=host, timeout=timeout)

    async def _request(self, texts: list[str]) -> object:
        response = await self._client.embed(model=self.model, input=texts,
                                            dimensions=self._wanted)
        return response.embeddings
