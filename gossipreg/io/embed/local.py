"""The local embedder: WordLlama's ``l2_supercat`` model, shipped inside the ``wordllama`` wheel.

WordLlama is a static model: a token's vector is a row of a table (LLM token embeddings
distilled to 256 dimensions), and a text's vector is the mean of its tokens' rows, so one short
text costs tens of microseconds on one core and the result is deterministic. The weights
(``weights/l2_supercat_256.safetensors``) and the tokenizer (``tokenizers/...json``) ship inside
the installed package; ``WordLlama.load`` looks for the tokenizer elsewhere by default and would
then download it, so this module points its cache directory at the package's own folder and
disables downloads: nothing is fetched at run time, ever.

Embedding runs in a worker thread (``asyncio.to_thread``), so the event loop never blocks on
it; loading happens once, under a lock, and embedding needs none (the tokenizer and the table
are only read), so threads embed side by side. Constructing one imports nothing (it only finds
the package); importing and loading (about 0.3 s together) happen on the first call, in that
thread, or up front with :meth:`WordLlamaEmbedder.load`. A loaded model is shared by every
embedder of the same size in the process (several nodes in one process hold one table).

Exact on every CPU: a text's vector is the sum of its tokens' rows computed in integers (each
float32 row scaled by 2**40 and rounded, which is exact and elementwise, then summed in int64,
where order cannot matter), normalised with a correctly rounded sum (``math.fsum``). So two
nodes that embed the same record get the same vector, bit for bit, and the same int8 code,
whatever BLAS or SIMD width they have. (WordLlama's own pooling sums float32 in whatever order
the machine prefers; its vectors agree with these to about 1e-7.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
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


_FIXED = 2.0 ** 40  # token rows in integer units of 2**-40 (exact for float32 values)
# Loaded models by (package folder, size), shared by the embedders of one process.
_LOADED: dict[tuple[Path, int], _Inference] = {}
_LOADING = threading.Lock()


class _Inference(Protocol):
    """The parts of ``wordllama.WordLlamaInference`` used here: the token table (float32,
    ``(vocabulary, dims)``) and the tokenizer."""

    embedding: Any

    def tokenize(self, texts: list[str]) -> list[Any]: ...


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
        with _LOADING:
            model = _LOADED.get((self._package_dir, self._dims))
            if model is None:
                try:
                    from wordllama import WordLlama

                    model = WordLlama.load(
                        config=WORDLLAMA_CONFIG, cache_dir=self._package_dir,
                        dim=_SHIPPED_DIMS,
                        trunc_dim=None if self._dims == _SHIPPED_DIMS else self._dims,
                        disable_download=True)
                except Exception as e:  # ImportError, FileNotFoundError, safetensors, ...
                    raise EmbedderError(f"wordllama could not load its shipped model from "
                                        f"{self._package_dir}: {e}") from e
                _LOADED[(self._package_dir, self._dims)] = model
        self._model = model
        return model

    def embed_sync(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed in the calling thread (blocking); ``purpose`` does not matter to this model.

        Raises EmbedderError.
        """
        texts = check_texts(texts)
        if not texts:
            return []
        out = []
        for row in self._sums(texts):
            norm = _norm(row)
            out.append((row / norm).tolist() if norm > 0 else row.tolist())
        return checked_vectors(out, len(texts), self._dims, source=self.model_id)

    def codes_sync(self, texts: list[str]) -> list[bytes]:
        """The int8 codes of ``texts`` (the scheme of
        :func:`gossipreg.core.search.vectors.quantize`, applied to the exact token sums in one
        vectorised pass), in the calling thread. Raises EmbedderError."""
        import numpy as np

        texts = check_texts(texts)
        out = []
        for row in self._sums(texts):
            norm = _norm(row)
            code = np.clip(np.rint(row * (127.0 / norm)), -127, 127) if norm > 0 else row
            out.append(code.astype(np.int8).tobytes())
        return out

    def _sums(self, texts: list[str]) -> Any:
        """The exact token sums of ``texts`` as float64 rows (exact up to 2**53)."""
        import numpy as np

        clipped = [t[: self._max_chars] for t in texts]
        with self._lock:  # loading only: a query need not wait for a batch being embedded
            model = self._load_locked()
        try:
            sums = _token_sums(model, clipped)
        except Exception as e:
            raise EmbedderError(f"wordllama failed to embed: {e}") from e
        return sums.astype(np.float64)

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed in a worker thread, so the event loop is never blocked. Raises EmbedderError."""
        texts = check_texts(texts)
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_sync, texts, purpose=purpose)


def _token_sums(model: _Inference, texts: list[str]) -> Any:
    """Per text, the exact integer sum of its tokens' rows (units of 2**-40): an int64 array of
    shape ``(len(texts), dims)``."""
    import numpy as np

    table = model.embedding
    ids = [[i for i, m in zip(enc.ids, enc.attention_mask, strict=True) if m]
           for enc in model.tokenize(texts)]
    out = np.zeros((len(texts), table.shape[1]), dtype=np.int64)
    some = [k for k, x in enumerate(ids) if x]
    if some:
        flat = np.clip(np.fromiter((i for k in some for i in ids[k]), dtype=np.int64),
                       0, table.shape[0] - 1)
        # x * 2**40 is exact in float32 too, and an integer once |x| >= 2**-17 (rint is then
        # a no-op): the same integers as in float64, with half the memory traffic.
        fixed = np.rint(table[flat] * np.float32(_FIXED)).astype(np.int64)
        starts = np.cumsum([0] + [len(ids[k]) for k in some[:-1]])
        out[some] = np.add.reduceat(fixed, starts, axis=0)
    return out


def _norm(row: Any) -> float:
    """The length of a float64 row, correctly rounded (the same on every CPU)."""
    return math.sqrt(math.fsum((row * row).tolist()))
