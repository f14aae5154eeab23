"""Embeddings from an OpenAI-compatible server (``POST {base_url}/embeddings``) through the
official ``openai`` client."""

from __future__ import annotations

from gossipreg.io.embed.errors import (
    EmbedderConfigError,
    EmbedderError,
    EmbedderUnavailableError,
)
from gossipreg.io.embed.remote import RemoteEmbedder

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(RemoteEmbedder):
    """``openai.AsyncOpenAI(base_url=..., api_key=...).embeddings.create(model=..., input=[...])``.

    Vectors are asked for as JSON floats (``encoding_format="float"``), which every compatible
    server speaks. ``base_url`` ends with the API's version path (e.g. ``http://host:8000/v1``;
    ``None``: the client's default). ``api_key`` must be non-empty (a server that checks none
    takes any value). ``timeout`` bounds one request, in seconds, and ``max_retries`` is the
    client's retry count. The other arguments are
    :class:`~gossipreg.io.embed.remote.RemoteEmbedder`'s. Raises EmbedderUnavailableError if
    ``openai`` is not installed, EmbedderConfigError for an empty key.
    """

    provider = "openai"

    def __init__(self, model: str, *, api_key: str, base_url: str | None = None,
                 dims: int | None = None, timeout: float = 30.0, max_retries: int = 1,
                 batch_size: int = 64, query_prefix: str = "", passage_prefix: str = "") -> None:
        super().__init__(model, dims=dims, batch_size=batch_size, query_prefix=query_prefix,
                         passage_prefix=passage_prefix)
        if not api_key:
            raise EmbedderConfigError("an OpenAI API key is needed (set OPENAI_API_KEY; any "
                                      "non-empty value for a server that checks none)")
        try:
            import openai
        except ImportError:
            raise EmbedderUnavailableError("openai") from None
        self.base_url = base_url
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                                          max_retries=max_retries)

    async def _request(self, texts: list[str]) -> object:
        if self._wanted is None:
            response = await self._client.embeddings.create(
                model=self.model, input=texts, encoding_format="float")
        else:
            response = await self._client.embeddings.create(
                model=self.model, input=texts, encoding_format="float", dimensions=self._wanted)
        ordered = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in ordered] != list(range(len(ordered))):
            raise EmbedderError(f"{self.model_id}: the answer's indices are not 0..n-1")
        return [item.embedding for item in ordered]
