"""A model's vectors with its common direction taken out (mean-centring), for API models.

Many embedding models are anisotropic: every vector shares a large common component, so any
two texts score high. multilingual-e5-small, measured through the OpenAI-compatible path,
gives unrelated query/card pairs cosines of 0.76-0.82 (median 0.80 over the relevance set's
pairs), where the package's WordLlama gives -0.08-0.10 (median 0.05). Hybrid ranking fuses the
cosine with the lexical score and returns nothing below a fixed least score, which assumes
unrelated texts score near 0: on raw e5 vectors every agent clears that floor, so a miss is
never a miss, and the cosine's spread is too narrow to weigh against the lexical evidence.

The cure is the textbook one: subtract the model's mean vector and renormalise. The mean is
the model's own answer for :data:`PROBES` (32 short, varied agent descriptions, fixed here so
that every node with the same model subtracts the same mean), asked once, at the first
embedding. Measured on the relevance set (``python -m sim.bench.search --embedder ...``, see
docs/measured.md): e5's median cosine of a query and an unrelated card falls from 0.80 to
0.15 and hybrid nDCG@10 rises from 0.846 to 0.869. Centred vectors are another model as far
as comparison goes, so the model tag says so (``+centered``): a node only compares vectors
made the same way.
"""

from __future__ import annotations

import asyncio
import math

from gossipreg.core.search.vectors import VectorError, check_model_tag
from gossipreg.io.embed.errors import EmbedderConfigError
from gossipreg.io.embed.protocol import Embedder, Purpose

__all__ = ["PROBES", "TAG_SUFFIX", "CenteredEmbedder"]

TAG_SUFFIX = "+centered"

#: Texts whose mean vector is the model's common direction: agent descriptions over many
#: domains, none about the same task. Changing them changes every centred vector: a new list
#: needs a new TAG_SUFFIX.
PROBES = (
    "Summarises long legal contracts and flags unusual clauses",
    "Books flights and hotels within a travel budget",
    "Answers questions about a company's HR policies",
    "Generates unit tests for Python code",
    "Monitors Kubernetes clusters and restarts failing pods",
    "Translates documents between English and Spanish",
    "Forecasts weekly sales from historical data",
    "Writes marketing copy for social media campaigns",
    "Reconciles invoices against purchase orders",
    "Transcribes audio recordings of meetings",
    "Recommends recipes from the ingredients in a fridge",
    "Screens job applicants' resumes for a role",
    "Detects fraudulent card transactions in real time",
    "Explains medical lab results in plain language",
    "Plans delivery routes for a fleet of vans",
    "Reviews pull requests for security issues",
    "Tutors students in high-school algebra",
    "Creates slide decks from a written outline",
    "Tracks shipments and notifies customers of delays",
    "Optimises cloud spending across AWS accounts",
    "Drafts replies to customer support emails",
    "Extracts tables from scanned PDF files",
    "Schedules meetings across time zones",
    "Analyses sentiment in product reviews",
    "Generates SQL queries from questions about a database",
    "Monitors air quality sensors in a factory",
    "Composes background music for videos",
    "Checks websites for accessibility problems",
    "Manages a warehouse's stock levels and reorders",
    "Prepares quarterly tax filings for small businesses",
    "Identifies plant diseases from leaf photos",
    "Moderates comments in an online forum",
)


class CenteredEmbedder:
    """``inner``'s vectors less its mean over :data:`PROBES`, renormalised to length 1.

    The mean is asked of ``inner`` once, at the first :meth:`embed` (one batch of probes); if
    that fails, the embedding fails (EmbedderError) and the next call asks again. Raises
    EmbedderConfigError if ``inner``'s tag cannot carry the suffix.
    """

    def __init__(self, inner: Embedder) -> None:
        try:
            self._model_id = check_model_tag(inner.model_id + TAG_SUFFIX)
        except VectorError as e:
            raise EmbedderConfigError(f"model tag {inner.model_id!r} is too long to mark as "
                                      f"centred: {e.detail} (use center=off)") from None
        self.inner = inner
        self._mean: list[float] | None = None
        self._lock = asyncio.Lock()

    @property
    def model_id(self) -> str:
        """The inner model's tag with ``+centered``."""
        return self._model_id

    @property
    def dims(self) -> int:
        """The inner model's vector length (0 before its first answer, if not configured)."""
        return self.inner.dims

    async def _model_mean(self) -> list[float]:
        async with self._lock:  # concurrent first calls ask once
            if self._mean is None:
                vectors = await self.inner.embed(list(PROBES), purpose="passage")
                columns = zip(*vectors, strict=True)
                self._mean = [math.fsum(column) / len(vectors) for column in columns]
            return self._mean

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        """Embed through the inner model, then centre each vector. Raises EmbedderError."""
        vectors = await self.inner.embed(texts, purpose=purpose)
        if not vectors:
            return vectors
        mean = self._mean or await self._model_mean()
        return [_centre(v, mean) for v in vectors]


def _centre(vector: list[float], mean: list[float]) -> list[float]:
    shifted = [x - m for x, m in zip(vector, mean, strict=True)]
    norm = math.sqrt(math.fsum(x * x for x in shifted))
    # Only a text whose vector is the mean itself lands here; its direction is the model's
    # common one, which centring removes: leave it as the model gave it.
    return [x / norm for x in shifted] if norm > 1e-9 else vector
