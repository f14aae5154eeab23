"""An embedder from a configuration string.

Grammar (options follow the first comma, as ``name=value`` pairs separated by commas)::

    None | "" | "off" | "none"          no embedder
    "local" | "wordllama"               WordLlama l2_supercat from the wheel   options: dims
    "ollama:<model>[@<url>]"            an Ollama server (url default: the client's)
                                                            options: dims, timeout, center
    "openai:<model>[@<url>]"            an OpenAI-compatible server, key from $OPENAI_API_KEY
                                                            options: dims, timeout, center

Examples: ``"local"``, ``"wordllama,dims=128"``, ``"ollama:nomic-embed-text@http://gpu1:11434"``,
``"openai:text-embedding-3-small@https://api.openai.com/v1,dims=256"``. A URL is ``http`` or
``https`` with a host. ``dims`` is 1..512 (64, 128 or 256 for the local model) and asks the
model for shorter vectors. ``center`` is ``on`` (the default) or ``off``: a server's vectors are
mean-centred (:mod:`~gossipreg.io.embed.centering`; the model tag gains ``+centered``) unless it
is ``off``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from gossipreg.core.search.vectors import MAX_DIMS
from gossipreg.io.embed.centering import CenteredEmbedder
from gossipreg.io.embed.errors import EmbedderConfigError
from gossipreg.io.embed.local import WordLlamaEmbedder
from gossipreg.io.embed.ollama import OllamaEmbedder
from gossipreg.io.embed.openai import OpenAIEmbedder
from gossipreg.io.embed.protocol import Embedder

__all__ = ["EmbedderSpec", "make_embedder", "parse_embedder_spec"]

Kind = Literal["wordllama", "ollama", "openai"]
_OFF = {"", "off", "none"}
_LOCAL = {"local", "wordllama"}
_OPTIONS: dict[Kind, frozenset[str]] = {
    "wordllama": frozenset({"dims"}),
    "ollama": frozenset({"dims", "timeout", "center"}),
    "openai": frozenset({"dims", "timeout", "center"}),
}


@dataclass(frozen=True, slots=True)
class EmbedderSpec:
    """A parsed embedder specification (see the module docstring)."""

    kind: Kind
    model: str = ""
    url: str | None = None
    dims: int | None = None
    timeout: float | None = None
    center: bool = True  # API models only


def _bad(spec: str, why: str) -> EmbedderConfigError:
    return EmbedderConfigError(f"bad embedder spec {spec!r}: {why}")


def _check_url(spec: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as e:
        raise _bad(spec, f"bad URL {url!r}: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(spec, f"the URL must be http(s)://host[:port][/path], not {url!r}")
    return url


def _options(spec: str, kind: Kind, pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not value:
            raise _bad(spec, f"option {pair!r} is not name=value")
        if name not in _OPTIONS[kind]:
            raise _bad(spec, f"unknown option {name!r} for {kind} "
                             f"(known: {', '.join(sorted(_OPTIONS[kind]))})")
        if name in found:
            raise _bad(spec, f"option {name!r} given twice")
        found[name] = value
    return found


def parse_embedder_spec(spec: str | None) -> EmbedderSpec | None:
    """Parse ``spec`` (grammar in the module docstring); ``None`` means no embedder.

    Pure: reads no environment and imports no model. Raises EmbedderConfigError.
    """
    if spec is None or spec.strip().lower() in _OFF:
        return None
    text = spec.strip()
    head, *pairs = text.split(",")
    head = head.strip()
    kind: Kind
    model, url = "", None
    if head.lower() in _LOCAL:
        kind = "wordllama"
    else:
        prefix, colon, rest = head.partition(":")
        if not colon or prefix.lower() not in ("ollama", "openai"):
            raise _bad(spec, "expected off, local, wordllama, ollama:<model>[@<url>] or "
                             "openai:<model>[@<url>]")
        kind = "ollama" if prefix.lower() == "ollama" else "openai"
        model, at, where = rest.partition("@")
        model = model.strip()
        if not model or any(ch.isspace() for ch in model):
            raise _bad(spec, "the model name is empty or holds spaces")
        if at:
            url = _check_url(spec, where.strip())
    options = _options(spec, kind, pairs)
    dims = timeout = None
    if "dims" in options:
        try:
            dims = int(options["dims"])
        except ValueError:
            raise _bad(spec, f"dims={options['dims']!r} is not an integer") from None
        if not 0 < dims <= MAX_DIMS:
            raise _bad(spec, f"dims must be in 1..{MAX_DIMS}")
    if "timeout" in options:
        try:
            timeout = float(options["timeout"])
        except ValueError:
            raise _bad(spec, f"timeout={options['timeout']!r} is not a number") from None
        if not (math.isfinite(timeout) and timeout > 0):
            raise _bad(spec, "timeout must be a positive number of seconds")
    center = options.get("center", "on").lower()
    if center not in ("on", "off"):
        raise _bad(spec, f"center={options['center']!r}: expected on or off")
    return EmbedderSpec(kind=kind, model=model, url=url, dims=dims, timeout=timeout,
                        center=center == "on")


def make_embedder(spec: str | None, *, env: Mapping[str, str] | None = None) -> Embedder | None:
    """The embedder ``spec`` names, or ``None`` for ``None``/``"off"``.

    ``env`` (default ``os.environ``) supplies ``OPENAI_API_KEY`` for ``openai:``. Nothing is
    loaded or contacted here: the local model loads on its first use, servers on their first
    request. Raises EmbedderConfigError for a bad spec or a missing key, and its subclass
    EmbedderUnavailableError (saying ``pip install 'gossipreg[semantic]'``) when the package
    the embedder needs is not installed.
    """
    parsed = parse_embedder_spec(spec)
    if parsed is None:
        return None
    timeout = 30.0 if parsed.timeout is None else parsed.timeout
    if parsed.kind == "wordllama":
        return WordLlamaEmbedder() if parsed.dims is None else WordLlamaEmbedder(dims=parsed.dims)
    remote: Embedder
    if parsed.kind == "ollama":
        remote = OllamaEmbedder(parsed.model, host=parsed.url, dims=parsed.dims, timeout=timeout)
    else:
        key = (os.environ if env is None else env).get("OPENAI_API_KEY", "")
        remote = OpenAIEmbedder(parsed.model, api_key=key, base_url=parsed.url, dims=parsed.dims,
                                timeout=timeout)
    return CenteredEmbedder(remote) if parsed.center else remote
