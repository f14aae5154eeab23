"""Pluggable embedders for hybrid search.

:class:`Embedder` is the protocol; :func:`make_embedder` builds one from a configuration string
(``"off"``, ``"local"``, ``"ollama:<model>@<url>"``, ``"openai:<model>@<url>"``; a server's
vectors are mean-centred by :class:`CenteredEmbedder` unless ``center=off``). The
implementations import their packages (``wordllama``, ``ollama``, ``openai``: the ``semantic``
extra) only when constructed, so importing this package needs none of them.
"""

from gossipreg.io.embed.centering import CenteredEmbedder
from gossipreg.io.embed.errors import (
    INSTALL_HINT,
    EmbedderConfigError,
    EmbedderError,
    EmbedderUnavailableError,
)
from gossipreg.io.embed.factory import EmbedderSpec, make_embedder, parse_embedder_spec
from gossipreg.io.embed.local import WORDLLAMA_DIMS, WordLlamaEmbedder
from gossipreg.io.embed.ollama import OllamaEmbedder
from gossipreg.io.embed.openai import OpenAIEmbedder
from gossipreg.io.embed.protocol import Embedder, Purpose
from gossipreg.io.embed.remote import RemoteEmbedder

__all__ = [
    "INSTALL_HINT",
    "WORDLLAMA_DIMS",
    "CenteredEmbedder",
    "Embedder",
    "EmbedderConfigError",
    "EmbedderError",
    "EmbedderSpec",
    "EmbedderUnavailableError",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "Purpose",
    "RemoteEmbedder",
    "WordLlamaEmbedder",
    "make_embedder",
    "parse_embedder_spec",
]
