"""The local embedder: WordLlama loaded from its own wheel, offline, embedding off the loop.

Skipped with one line when the semantic extra is absent; under CI (CI=true) that fails instead.
"""

from __future__ import annotations

import math
import socket
import threading
import warnings

import pytest
from _embedkit import need_semantic

from gossipreg.core.search.vectors import quantize
from gossipreg.io.embed import (
    Embedder,
    EmbedderConfigError,
    EmbedderError,
    Purpose,
    WordLlamaEmbedder,
)

need_semantic("wordllama", module_level=True)

TEXTS = ["Translator agent: converts documents between English and German.",
         "Forecast service answering questions about rain and wind in any city.",
         "book a flight to Tokyo"]


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    model = WordLlamaEmbedder()
    model.load()
    return model


def test_loads_from_the_wheel_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = need_semantic("requests")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local model tried to reach the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(requests, "get", no_network)
    model = WordLlamaEmbedder()
    assert (model.model_id, model.dims, model.loaded) == ("wordllama/l2_supercat-256", 256, False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # wordllama warns before it falls back to a download
        model.load()
        model.load()  # idempotent
    assert model.loaded
    assert isinstance(model, Embedder)


def test_vectors_are_unit_length_deterministic_and_quantise_identically(
        embedder: WordLlamaEmbedder) -> None:
    vectors = embedder.embed_sync(TEXTS)
    assert len(vectors) == len(TEXTS)
    for v in vectors:
        assert len(v) == 256
        assert all(math.isfinite(x) for x in v)
        assert abs(math.sqrt(math.fsum(x * x for x in v)) - 1.0) < 1e-9
    again = WordLlamaEmbedder().embed_sync(TEXTS)  # a second instance, loaded lazily
    assert again == vectors
    assert [quantize(v) for v in again] == [quantize(v) for v in vectors]
    assert embedder.embed_sync(TEXTS[:1]) == vectors[:1]  # batching does not change a vector
    assert embedder.embed_sync(TEXTS, purpose="query") == vectors  # a symmetric model


def test_a_text_with_no_token_gives_the_zero_vector(embedder: WordLlamaEmbedder) -> None:
    [empty, word] = embedder.embed_sync(["", "agent"])
    assert empty == [0.0] * 256
    assert any(word)
    assert embedder.embed_sync([]) == []


async def test_async_embed_runs_in_a_worker_thread(embedder: WordLlamaEmbedder) -> None:
    threads: list[int] = []

    class Spy(WordLlamaEmbedder):
        def embed_sync(self, texts: list[str], *,
                       purpose: Purpose = "passage") -> list[list[float]]:
            threads.append(threading.get_ident())
            return super().embed_sync(texts, purpose=purpose)

    spy = Spy()
    vectors = await spy.embed(TEXTS)
    assert vectors == embedder.embed_sync(TEXTS)
    assert threads and threads[0] != threading.get_ident()
    assert await spy.embed([]) == []


async def test_shorter_sizes(embedder: WordLlamaEmbedder) -> None:
    short = WordLlamaEmbedder(dims=64)
    assert short.model_id == "wordllama/l2_supercat-64"
    [v] = await short.embed(TEXTS[:1])
    assert len(v) == 64
    with pytest.raises(EmbedderConfigError, match="dims"):
        WordLlamaEmbedder(dims=100)
    with pytest.raises(EmbedderConfigError, match="max_chars"):
        WordLlamaEmbedder(max_chars=0)


async def test_bad_input_raises_the_typed_error(embedder: WordLlamaEmbedder) -> None:
    with pytest.raises(EmbedderError, match="list of str"):
        await embedder.embed("a lone string")  # type: ignore[arg-type]
    with pytest.raises(EmbedderError, match="list of str"):
        embedder.embed_sync(["ok", 3])  # type: ignore[list-item]
