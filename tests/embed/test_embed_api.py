"""The API embedders through their real client libraries (``ollama``, ``openai``) against a
local stand-in server speaking Ollama's ``/api/embed`` and OpenAI's ``/v1/embeddings``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest
from _embedkit import StandIn, need_semantic, serve, text_vector

from gossipreg.io.embed import (
    Embedder,
    EmbedderError,
    OllamaEmbedder,
    OpenAIEmbedder,
    RemoteEmbedder,
    make_embedder,
)
from gossipreg.io.embed.centering import PROBES

pytestmark = pytest.mark.network
PROVIDERS = ["ollama", "openai"]


@pytest.fixture
async def server() -> AsyncIterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    async with serve(stand_in) as url:
        yield stand_in, url


def build(provider: str, url: str, **kw: object) -> RemoteEmbedder:
    need_semantic(provider)
    if provider == "ollama":
        return OllamaEmbedder("nomic-embed-text", host=url, **kw)  # type: ignore[arg-type]
    return OpenAIEmbedder("text-embedding-3-small", api_key="test-key", base_url=f"{url}/v1",
                          max_retries=0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_embeds_through_the_real_client(server: tuple[StandIn, str], provider: str) -> None:
    stand_in, url = server
    embedder = build(provider, url)
    assert isinstance(embedder, Embedder)
    assert embedder.dims == 0  # not known before the first answer
    texts = ["translate a letter to German", "weather in Paris", "book a flight"]
    vectors = await embedder.embed(texts)
    assert vectors == [text_vector(t, 8) for t in texts]
    assert embedder.dims == 8
    assert embedder.model_id == f"{provider}/{embedder.model}"
    [(api, body, auth)] = stand_in.requests
    assert api == provider
    assert body["model"] == embedder.model
    assert body["input"] == texts
    assert "dimensions" not in body
    if provider == "openai":
        assert body["encoding_format"] == "float"
        assert auth == "Bearer test-key"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_asks_for_dims_and_shortens_a_longer_answer(server: tuple[StandIn, str],
                                                          provider: str) -> None:
    stand_in, url = server
    embedder = build(provider, url, dims=4)
    assert embedder.dims == 4
    assert await embedder.embed(["a"]) == [text_vector("a", 4)]
    assert stand_in.requests[-1][1]["dimensions"] == 4
    stand_in.fault = "ignore_dims"  # a server that answers with its full size
    assert await embedder.embed(["b"]) == [text_vector("b", 8)[:4]]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_prefixes_batches_and_order(server: tuple[StandIn, str], provider: str) -> None:
    stand_in, url = server
    embedder = build(provider, url, batch_size=2, query_prefix="search_query: ",
                     passage_prefix="search_document: ")
    if provider == "openai":
        stand_in.fault = "shuffle"  # items come back in reverse order, with their indices
    texts = [f"text {i}" for i in range(5)]
    passages = await embedder.embed(texts)
    assert passages == [text_vector(f"search_document: {t}", 8) for t in texts]
    assert [len(body["input"]) for _, body, _ in stand_in.requests] == [2, 2, 1]
    query = await embedder.embed(["where"], purpose="query")
    assert query == [text_vector("search_query: where", 8)]
    assert await embedder.embed([]) == []
    assert len(stand_in.requests) == 4


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["status", "count", "nan", "huge"])
async def test_a_bad_answer_raises_the_typed_error(server: tuple[StandIn, str], provider: str,
                                                   fault: str) -> None:
    stand_in, url = server
    embedder = build(provider, url)
    stand_in.fault = fault
    with pytest.raises(EmbedderError, match=embedder.model_id):
        await embedder.embed(["one", "two"])


async def test_openai_indices_must_cover_the_inputs(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    embedder = build("openai", url)
    stand_in.fault = "index"
    with pytest.raises(EmbedderError, match="indices"):
        await embedder.embed(["one", "two"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_change_of_length_is_refused(server: tuple[StandIn, str], provider: str) -> None:
    stand_in, url = server
    embedder = build(provider, url)
    await embedder.embed(["one"])
    stand_in.dims = 16  # the server now runs another model
    with pytest.raises(EmbedderError, match="16 dimensions, expected 8"):
        await embedder.embed(["two"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unreachable_server_raises_the_typed_error(provider: str) -> None:
    async with serve(StandIn()) as url:
        pass  # the port is closed again: connections are refused
    embedder = build(provider, url, timeout=5.0)
    with pytest.raises(EmbedderError):
        await embedder.embed(["one"])


async def test_the_factory_builds_working_api_embedders(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    need_semantic("ollama")
    need_semantic("openai")
    ollama = make_embedder(f"ollama:all-minilm@{url},dims=4,center=off")
    openai = make_embedder(f"openai:embed-small@{url}/v1,timeout=5",
                           env={"OPENAI_API_KEY": "sk-from-env"})
    assert ollama is not None and openai is not None
    assert (ollama.model_id, openai.model_id) == ("ollama/all-minilm",
                                                  "openai/embed-small+centered")
    assert await ollama.embed(["x"]) == [text_vector("x", 4)]
    [y] = await openai.embed(["y"])  # centred by default: the probes' mean asked first
    mean = [sum(c) / len(PROBES) for c in zip(*(text_vector(p, 8) for p in PROBES),
                                               strict=True)]
    shifted = [a - b for a, b in zip(text_vector("y", 8), mean, strict=True)]
    norm = math.sqrt(sum(x * x for x in shifted))
    assert y == pytest.approx([x / norm for x in shifted])
    assert [(api, body["model"], body["input"], auth)
            for api, body, auth in stand_in.requests] == [
        ("ollama", "all-minilm", ["x"], ""),
        ("openai", "embed-small", ["y"], "Bearer sk-from-env"),
        ("openai", "embed-small", list(PROBES), "Bearer sk-from-env")]
