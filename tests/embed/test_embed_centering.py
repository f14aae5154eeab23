"""Mean-centring of an API model's vectors (``CenteredEmbedder``), over a fake anisotropic
model: every vector is one large common direction plus a small part of its own."""

from __future__ import annotations

import asyncio
import hashlib
import math

import pytest

from gossipreg.io.embed import CenteredEmbedder, EmbedderConfigError, EmbedderError, Purpose
from gossipreg.io.embed.centering import PROBES, TAG_SUFFIX

DIMS = 16
COMMON = [1.0] * DIMS  # what every text shares


def own_part(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 127.5) / 127.5 for b in digest[:DIMS]]


def unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(unit(a), unit(b), strict=True))


class Anisotropic:
    """An embedder whose unrelated texts all score high: ``4 × COMMON + own part``."""

    model_id = "fake/aniso"
    dims = DIMS

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Purpose]] = []
        self.fail_probes = False

    async def embed(self, texts: list[str], *, purpose: Purpose = "passage") -> list[list[float]]:
        self.calls.append((list(texts), purpose))
        await asyncio.sleep(0)  # let concurrent callers interleave
        if self.fail_probes and texts == list(PROBES):
            raise EmbedderError("fake/aniso: server error")
        return [unit([4 * c + o for c, o in zip(COMMON, own_part(t), strict=True)])
                for t in texts]


async def test_unrelated_texts_no_longer_score_high() -> None:
    inner = Anisotropic()
    centred = CenteredEmbedder(inner)
    texts = ["book a table for two", "rotate the TLS certificates", "count the penguins"]
    raw = await inner.embed(texts)
    got = await centred.embed(texts)
    raw_cos = [cosine(raw[i], raw[j]) for i in range(3) for j in range(i + 1, 3)]
    got_cos = [cosine(got[i], got[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(raw_cos) > 0.9  # the fake is as anisotropic as e5
    assert max(abs(c) for c in got_cos) < 0.6
    assert all(math.isclose(sum(x * x for x in v), 1.0) for v in got)


async def test_the_mean_is_the_probes_asked_once_and_the_tag_says_so() -> None:
    inner = Anisotropic()
    centred = CenteredEmbedder(inner)
    assert (centred.model_id, centred.dims) == ("fake/aniso" + TAG_SUFFIX, DIMS)
    await asyncio.gather(*(centred.embed([f"text {i}"], purpose="query") for i in range(4)))
    await centred.embed(["later"])
    probes = [c for c in inner.calls if c[0] == list(PROBES)]
    assert probes == [(list(PROBES), "passage")]
    assert sorted((t[0], p) for t, p in inner.calls if t != list(PROBES)) == [
        ("later", "passage"), *((f"text {i}", "query") for i in range(4))]


async def test_a_failed_mean_fails_the_call_and_is_asked_again() -> None:
    inner = Anisotropic()
    inner.fail_probes = True
    centred = CenteredEmbedder(inner)
    with pytest.raises(EmbedderError, match="server error"):
        await centred.embed(["x"])
    inner.fail_probes = False
    [v] = await centred.embed(["x"])
    assert [c[0] for c in inner.calls].count(list(PROBES)) == 2
    assert math.isclose(sum(x * x for x in v), 1.0)


async def test_an_empty_batch_asks_nothing() -> None:
    inner = Anisotropic()
    assert await CenteredEmbedder(inner).embed([]) == []
    assert inner.calls == [([], "passage")]


def test_a_tag_too_long_for_the_suffix_is_a_config_error() -> None:
    inner = Anisotropic()
    inner.model_id = "fake/" + "m" * 58  # type: ignore[misc]
    with pytest.raises(EmbedderConfigError, match="center=off"):
        CenteredEmbedder(inner)
