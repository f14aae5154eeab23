"""The local embedder: WordLlama's ``l2_supercat`` model, shipped inside the ``wordllama`` wheel.

WordLlama is a static model: a token's vector is a row of a table (LLM token embeddings
distilled to 256 dimensions), and a text's vector is the mean of its tokens' rows, so one short
text costs tens of microseconds on one core and the result is deterministic. The weights
(``weights/l2_supercat_256.safetensors``) and the tokenizer (``tokenizers/...json``) ship inside
the installed package; ``WordLlama.load`` looks for the tokenizer elsewhere by default and would
then download it, so this module points its cache directory at the package's own folder and
disables downloads: nothing is fetched at run time, ever.

Embedding runs in a worker thread (``asyncio.to_thread``), under a lock, so the event loop never
blocks on it. Constructing one imports nothing (it only finds the package); importing and
loading (about 0.3 s together) happen on the first call, in that thread, or up front with
:meth:`WordLlamaEmbedder.load`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path
from typing import Any, Protocol

from gossipreg.io.embed.errors import EmbedderConfigError, EmbedderError, EmbedderUnavailableError
from gossipreg.io.embed.protocol import Purpose, check_texts, checked_vectors

__all__ = ["WORDLLAMA_CONFIG", "WORDLLAMA_DIMS", "WordLlamaEmbedder"]

#: The model configuration whose files the wheel ships.
WORDLLAMA_CONFIG = "l2_supercat"
#: The sizes it can be cut to (its vectors are Matryoshka-trained; the wheel ships 256).
WORDLLAMA_DIMS = (64, 128, 256)
_SHIPPED_DIMS = 256


class _Inference(Protocol):
    """The part of ``wordllama.WordLlamaInference`` used here."""

    def embed(self, texts: list[str], norm: bool = ..., return_np: bool = ...) -> Any: ...


def _package_dir() -> Path:
    """The installed ``wordllama`` package's folder, found without importing it (the import
    takes a few hundred milliseconds: it happens in the worker thread, on load)."""
    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailableError("wordllama")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


class WordLlamaEmbedder:
    """The WordLlama model from the installed wheel (see the module docstring).

    ``dims`` is 64, 128 or 256 (the shipped size); ``max_chars`` caps each text's length before
    tokenising. Vectors are L2-normalised; a text with no known token gets the zero vector.
    Raises EmbedderUnavailableError if ``wordllama`` is not installed, EmbedderConfigError for
    a bad argument.
    """

    def __init__(self, *, dims: int = _SHIPPED_DIMS, max_chars: int = 8192) -> None:
        if dims not in WORDLLAMA_DIMS:
            raise EmbedderConfigError(f"wordllama dims must be one of {WORDLLAMA_DIMS}, not {dims}")
        if max_chars < 1:
            raise EmbedderConfigError("max_chars must be positive")
        self._package_dir = _package_dir()
        self._dims = dims
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._model: _Inference | None = None

    @property
    def model_id(self) -> str:
        """``wordllama/l2_supercat-<dims>``."""
        return f"wordllama/{WORDLLAMA_CONFIG}-{self._dims}"

    @property
    def dims(self) -> int:
        """The vector length (known before loading)."""
        return self._dims

    @property
    def loaded(self) -> bool:
        """Whether the model files have been read."""
        return self._model is not None

    def load(self) -> None:
        """Read the model from the wheel's own files (idempotent, thread-safe, blocking).

        Raises EmbedderError if the files are missing or unreadable.
        """
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> _Inference:
        if self._model is not None:
            return self._model
        try:
            from wordllama import WordLlama

            model: _Inference = WordLlama.load(
                config=WORDLLAMA_CONFIG, cache_dir=self._package_dir, dim=_SHIPPED_DIMS,
                trunc_dim=None if self._dims == _SHIPPED_DIMS else self._dims,
                disable_download=True)
        except Exception as e:  # ImportError, FileNotFoundError, a safetensors error, ...
            raise EmbedderError(f"wordllama could not load its shipped model from "
                                f"{self._package_dir}: {e}") from e
        self._model = model
        return model

    def embed_sync(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed in the calling thread (blocking); ``purpose`` does not matter to this model.

        Raises EmbedderError.
        """
        texts = check_texts(texts)
        if not texts:
            return []
        import numpy as np

        clipped = [t[: self._max_chars] for t in texts]
        with self._lock:
            model = self._load_locked()
            try:
                raw = np.asarray(model.embed(clipped, norm=False, return_np=True),
                                 dtype=np.float64)
            except Exception as e:
                raise EmbedderError(f"wordllama failed to embed: {e}") from e
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
        return checked_vectors(unit.tolist(), len(texts), self._dims, source=self.model_id)

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed in a worker thread, so the event loop is never blocked. Raises EmbedderError."""
        texts = check_texts(texts)
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_sync, texts, purpose=purpose)
