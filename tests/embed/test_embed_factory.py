"""make_embedder and parse_embedder_spec: the spec grammar, its errors, a missing extra."""

from __future__ import annotations

import sys

import pytest
from _embedkit import INSTALL, need_semantic

from gossipreg.core.errors import ConfigError, GossipregError
from gossipreg.io.embed import (
    INSTALL_HINT,
    CenteredEmbedder,
    Embedder,
    EmbedderConfigError,
    EmbedderSpec,
    EmbedderUnavailableError,
    OllamaEmbedder,
    OpenAIEmbedder,
    WordLlamaEmbedder,
    make_embedder,
    parse_embedder_spec,
)


@pytest.mark.parametrize("spec", [None, "", "  ", "off", "OFF", "none"])
def test_off(spec: str | None) -> None:
    assert parse_embedder_spec(spec) is None
    assert make_embedder(spec) is None


@pytest.mark.parametrize(("spec", "parsed"), [
    ("local", EmbedderSpec("wordllama")),
    ("wordllama", EmbedderSpec("wordllama")),
    (" WordLlama , dims=128 ", EmbedderSpec("wordllama", dims=128)),
    ("ollama:nomic-embed-text", EmbedderSpec("ollama", "nomic-embed-text")),
    ("ollama:nomic-embed-text:v1.5@http://gpu1:11434",
     EmbedderSpec("ollama", "nomic-embed-text:v1.5", "http://gpu1:11434")),
    ("ollama:all-minilm@http://[::1]:11434,dims=256,timeout=2.5",
     EmbedderSpec("ollama", "all-minilm", "http://[::1]:11434", 256, 2.5)),
    ("openai:text-embedding-3-small@https://api.openai.com/v1,dims=512",
     EmbedderSpec("openai", "text-embedding-3-small", "https://api.openai.com/v1", 512)),
    ("OpenAI:bge-small@http://127.0.0.1:8080/v1",
     EmbedderSpec("openai", "bge-small", "http://127.0.0.1:8080/v1")),
    ("openai:e5@http://127.0.0.1:8000/v1,center=off",
     EmbedderSpec("openai", "e5", "http://127.0.0.1:8000/v1", center=False)),
    ("ollama:e5,center=ON", EmbedderSpec("ollama", "e5")),
])
def test_valid_specs(spec: str, parsed: EmbedderSpec) -> None:
    assert parse_embedder_spec(spec) == parsed


@pytest.mark.parametrize(("spec", "why"), [
    ("wordlama", "expected off, local"),
    ("sentence-transformers:all-MiniLM-L6-v2", "expected off, local"),
    ("ollama", "expected off, local"),
    ("ollama:", "model name"),
    ("ollama:@http://h:11434", "model name"),
    ("openai:two words@http://h/v1", "model name"),
    ("ollama:m@ftp://h", "http"),
    ("ollama:m@h:11434", "http"),
    ("ollama:m@http://", "http"),
    ("ollama:m@http://h:port", "bad URL"),
    ("ollama:m,dims=0", "dims must be"),
    ("ollama:m,dims=513", "dims must be"),
    ("openai:m,dims=abc", "not an integer"),
    ("openai:m,timeout=0", "timeout must be"),
    ("openai:m,timeout=nan", "timeout must be"),
    ("openai:m,timeout=soon", "not a number"),
    ("openai:m,dims", "name=value"),
    ("openai:m,dims=", "name=value"),
    ("openai:m,size=4", "unknown option"),
    ("local,timeout=3", "unknown option"),
    ("ollama:m,dims=4,dims=8", "twice"),
    ("ollama:m,center=yes", "expected on or off"),
    ("local,center=off", "unknown option"),
])
def test_bad_specs_raise_the_typed_error(spec: str, why: str) -> None:
    with pytest.raises(EmbedderConfigError, match=why) as raised:
        parse_embedder_spec(spec)
    assert repr(spec) in str(raised.value)
    assert isinstance(raised.value, ConfigError)
    assert isinstance(raised.value, GossipregError)


def test_api_embedders_are_built_without_contacting_anything() -> None:
    need_semantic("ollama")
    need_semantic("openai")
    ollama = make_embedder("ollama:nomic-embed-text@http://127.0.0.1:9,dims=256,center=off")
    assert isinstance(ollama, OllamaEmbedder) and isinstance(ollama, Embedder)
    assert (ollama.model_id, ollama.dims, ollama.host) == (
        "ollama/nomic-embed-text", 256, "http://127.0.0.1:9")
    openai = make_embedder("openai:text-embedding-3-small@http://127.0.0.1:9/v1",
                           env={"OPENAI_API_KEY": "sk-test"})
    assert isinstance(openai, CenteredEmbedder) and isinstance(openai, Embedder)
    assert isinstance(openai.inner, OpenAIEmbedder)
    assert (openai.model_id, openai.dims) == ("openai/text-embedding-3-small+centered", 0)


def test_openai_needs_a_key() -> None:
    need_semantic("openai")
    with pytest.raises(EmbedderConfigError, match="OPENAI_API_KEY"):
        make_embedder("openai:m@http://127.0.0.1:9/v1", env={})
    with pytest.raises(EmbedderConfigError, match="OPENAI_API_KEY"):
        make_embedder("openai:m@http://127.0.0.1:9/v1", env={"OPENAI_API_KEY": ""})


def test_a_model_name_that_makes_no_model_tag_is_refused() -> None:
    with pytest.raises(EmbedderConfigError, match="model tag"):
        make_embedder("ollama:" + "m" * 80)
    with pytest.raises(EmbedderConfigError, match="model tag"):
        make_embedder("ollama:modèle")


def test_local_spec_builds_the_wheel_model_lazily() -> None:
    need_semantic("wordllama")
    local = make_embedder("local,dims=128")
    assert isinstance(local, WordLlamaEmbedder)
    assert (local.model_id, local.dims, local.loaded) == ("wordllama/l2_supercat-128", 128, False)


@pytest.mark.parametrize(("spec", "module"), [
    ("local", "wordllama"),
    ("ollama:m@http://127.0.0.1:9", "ollama"),
    ("openai:m@http://127.0.0.1:9/v1", "openai"),
])
def test_a_missing_extra_says_what_to_install(spec: str, module: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(EmbedderUnavailableError) as raised:
        make_embedder(spec, env={"OPENAI_API_KEY": "k"})
    assert INSTALL_HINT == INSTALL
    assert INSTALL in str(raised.value)
    assert raised.value.package == module
    assert isinstance(raised.value, EmbedderConfigError)
