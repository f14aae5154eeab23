"""The page's files as served (no browser): ``/`` redirects to ``/ui``; the files need no token
while the API still does; every page response carries ``Content-Security-Policy: default-src
'self'``; the sources hold no inline script, no markup sink and nothing from another origin;
the whole page weighs a few kilobytes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib import resources

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.io.api.ui import CSP, FILES, page_weight

pytestmark = pytest.mark.network
STATIC = resources.files("gossipreg.io.api").joinpath("static")


def source(name: str) -> str:
    return STATIC.joinpath(name).read_text()


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("ui", config=NodeConfig.local(), token="tok").start()
    yield n
    await n.shutdown()


async def test_page_files_are_served_without_the_token_under_a_strict_policy(
        node: GossipNode) -> None:
    base = f"http://{node.address}"
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/ui"
        for path, (name, ctype) in FILES.items():
            async with s.get(base + path) as r:
                assert r.status == 200, path
                assert r.headers["Content-Security-Policy"] == "default-src 'self'" == CSP
                assert r.headers["Content-Type"].startswith(ctype)
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert await r.read() == STATIC.joinpath(name).read_bytes()
        async with s.get(base + "/v1/members") as r:
            assert r.status == 401  # the data still needs the token
        async with s.get(base + "/v1/openapi.json") as r:
            paths = (await r.json())["paths"]
        assert {"/", *FILES} <= set(paths)


def test_no_inline_script_style_or_foreign_origin_in_the_html() -> None:
    html = source("index.html")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/ui/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline handlers
    assert " style=" not in html and "<style" not in html
    assert "javascript:" not in html
    for name in ("index.html", "ui.css", "ui.js"):
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", source(name)), name
        assert "@import" not in source(name)


def test_the_script_never_parses_record_text_as_markup() -> None:
    js = source("ui.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on", "DOMParser", "createContextualFragment",
                 "srcdoc", ".href ="):
        assert sink not in js, sink
    # Attributes are set only on SVG shapes the script draws (numbers and its own colours).
    assert js.count("setAttribute(") == 1


def test_the_page_weighs_a_few_kilobytes() -> None:
    weight = page_weight()
    print(f"page weight: {weight} bytes")
    assert weight < 40_000
