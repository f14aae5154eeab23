"""The :class:`Embedder` protocol, and the checks every embedder applies to what it returns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from gossipreg.core.search.vectors import MAX_DIMS
from gossipreg.io.embed.errors import EmbedderError

__all__ = ["Embedder", "Purpose", "check_texts", "checked_vectors"]

#: What a text is embedded for: asymmetric models (e5, nomic-embed-text) prefix the two
#: differently; symmetric ones (WordLlama) ignore it.
Purpose = Literal["passage", "query"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into float vectors of one length.

    ``model_id`` names the model (it becomes the model tag of the vectors a record carries, so
    two nodes compare vectors only when their tags match; see
    :func:`gossipreg.core.search.vectors.check_model_tag`). ``dims`` is the vector length, or 0
    while a remote model whose length was not configured has not answered yet.
    """

    @property
    def model_id(self) -> str:
        """The model tag: short printable ASCII, e.g. ``"wordllama/l2_supercat-256"``."""
        ...

    @property
    def dims(self) -> int:
        """The length of every vector, 0 if not known yet."""
        ...

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """One vector per text, in order, each of length ``dims``; never blocks the event loop.

        Raises EmbedderError if the model fails or returns something unusable.
        """
        ...


def check_texts(texts: object) -> list[str]:
    """``texts`` as a list of str; raises EmbedderError for anything else (a lone str included,
    which would otherwise be embedded character by character by some clients)."""
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise EmbedderError("texts must be a list of str")
    return texts


def checked_vectors(raw: object, count: int, dims: int, *, source: str,
                    shorten: bool = False) -> list[list[float]]:
    """Validate vectors returned by a model: ``count`` of them, all finite floats of one length
    in 1..MAX_DIMS, equal to ``dims`` unless ``dims`` is 0. With ``shorten``, a longer vector
    is cut to its first ``dims`` components (right for Matryoshka-trained models, which is what
    asking for a size means). Returns them as lists of float.

    Raises EmbedderError naming ``source``.
    """
    if count == 0 and isinstance(raw, Sequence) and len(raw) == 0:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes) or len(raw) != count:
        got = len(raw) if isinstance(raw, Sequence) else type(raw).__name__
        raise EmbedderError(f"{source}: expected {count} vectors, got {got}")
    out: list[list[float]] = []
    size = dims
    for vector in raw:
        if not isinstance(vector, Sequence) or isinstance(vector, str | bytes):
            raise EmbedderError(f"{source}: a vector is a {type(vector).__name__}")
        if size == 0:
            size = len(vector)
        elif shorten and len(vector) > size:
            vector = vector[:size]
        if len(vector) != size:
            raise EmbedderError(f"{source}: a vector has {len(vector)} dimensions, "
                                f"expected {size}")
        floats = [float(x) for x in vector
                  if isinstance(x, int | float) and not isinstance(x, bool)]
        if len(floats) != size or not all(math.isfinite(x) for x in floats):
            raise EmbedderError(f"{source}: a vector holds a value that is not a finite number")
        out.append(floats)
    if not 0 < size <= MAX_DIMS:
        raise EmbedderError(f"{source}: vectors of {size} dimensions, expected 1..{MAX_DIMS} "
                            "(set dims=N for a model that can be shortened)")
    return out
