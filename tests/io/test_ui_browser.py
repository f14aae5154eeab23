"""The node's page in a real browser: Debian's headless chromium, driven through the DevTools
protocol (sim/bench/chromium.py, over aiohttp's websocket client), on a 3-node mesh with a token.

The page is opened on one node; it asks for the token once, then shows every member and agent
with its status; an agent registered on another node appears without a reload; a search ranks
the expected agent first; a card whose fields hold markup and script is shown as text and runs
nothing; a killed node turns red and dead; the event stream resumes after its connection drops
without losing or repeating an event; the token never appears in a URL.

Under CI (``CI=true``, as root) a missing chromium fails the test; elsewhere it skips.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import MemberState
from sim.bench.chromium import Chromium, Page, chromium_missing
from tests.support import until

pytestmark = pytest.mark.network
TOKEN = "s3cret-page-token"

why = chromium_missing()
if why is not None:
    if os.environ.get("CI") == "true" and os.geteuid() == 0:
        pytest.fail(f"the browser test needs chromium under CI: {why}", pytrace=False)
    pytest.skip(f"browser test skipped: {why}", allow_module_level=True)

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'
HOSTILE_DESC = '<script>window.__pwned=2</script><b id="pwn">bold</b>'
HOSTILE_CARD = {
    "name": HOSTILE_NAME, "description": HOSTILE_DESC, "version": "1.0",
    "supportedInterfaces": [{"url": "javascript:window.__pwned=3", "protocolBinding": "JSONRPC",
                             "protocolVersion": "1.0"}],
    "skills": [{"id": "x", "name": '<svg onload="window.__pwned=4">', "description": "d",
                "tags": ['<i id="pwn2">tag</i>']}],
}
FX_CARD = {
    "name": "FX rates", "description": "Converts currencies at today's rates", "version": "2.1",
    "supportedInterfaces": [{"url": "http://127.0.0.1:9/a2a", "protocolBinding": "JSONRPC",
                             "protocolVersion": "1.0"}],
    "skills": [{"id": "convert", "name": "Currency conversion", "description": "EUR to USD",
                "tags": ["finance"]}],
}


def rows(table: str) -> str:
    """JavaScript: the rows of a table's body as [data-id, data-state or status, text]."""
    return (f"[...document.querySelectorAll('#{table} tbody tr')].map(r => "
            "[r.dataset.id, r.dataset.state || r.dataset.status || r.dataset.type, "
            "r.textContent])")


@pytest.fixture
async def mesh() -> AsyncIterator[list[GossipNode]]:
    cfg = NodeConfig.local()
    first = await GossipNode("n0", config=cfg, token=TOKEN).start()
    nodes = [first]
    for name in ("n1", "n2"):
        nodes.append(await GossipNode(name, config=cfg, token=TOKEN,
                                      seeds=[first.address]).start())
    assert await until(lambda: all(
        sum(m.state is MemberState.ALIVE for m in x.members()) == 3 for x in nodes))
    yield nodes
    for n in nodes:
        await n.shutdown()


async def open_page(browser: Chromium, node: GossipNode) -> Page:
    page = await browser.page()
    await page.navigate(f"http://{node.address}/")  # redirects to /ui
    assert await page.eval("location.pathname") == "/ui"
    assert await page.until("!document.getElementById('login').hidden")  # asks for the token
    await page.eval(f"document.getElementById('token').value = {json.dumps(TOKEN)};"
                    "document.getElementById('login').requestSubmit(); true")
    return page


async def test_the_page_shows_the_mesh_live(mesh: list[GossipNode]) -> None:
    n0, n1, n2 = mesh
    await n0.register(agent_id="fx", runtime_id="rt-fin", capabilities=["currency"],
                      card=FX_CARD, tags=["finance"])
    await n1.register(agent_id="inv", name="Invoice reader", runtime_id="rt-ops",
                      capabilities=["invoices", "pdf extraction"], description="Reads invoices")
    await n2.register(agent_id="evil", runtime_id="rt-x", capabilities=["mischief"],
                      card=HOSTILE_CARD)
    assert await until(lambda: all(len(n.list_agents()) == 3 for n in mesh))
    async with Chromium.launch() as browser:
        page = await open_page(browser, n0)
        await page.eval("window.__marker = 'same document'; true")  # a reload would lose it

        # Every member and every agent, with its state or status in words.
        assert await page.until(f"{rows('members')}.length === 3 && {rows('agents')}.length === 3")
        members = {i: s for i, s, _ in await page.eval(rows("members"))}
        assert members == {"n0": "alive", "n1": "alive", "n2": "alive"}
        agents = {i: (s, t) for i, s, t in await page.eval(rows("agents"))}
        assert {i: s for i, (s, _) in agents.items()} == {"fx": "active", "inv": "active",
                                                          "evil": "active"}
        assert agents["fx"][1].startswith("active") and "FX rates" in agents["fx"][1]
        assert "http://127.0.0.1:9/a2a" in agents["fx"][1]  # endpoints
        assert "Currency conversion" in agents["fx"][1]  # skills
        assert "n1" in agents["inv"][1] and "rt-ops" in agents["inv"][1]

        # Hostile text is text: shown literally, nothing parsed or run.
        evil = agents["evil"][1]
        for text in (HOSTILE_NAME, HOSTILE_DESC, "javascript:window.__pwned=3",
                     '<svg onload="window.__pwned=4">', '<i id="pwn2">tag</i>'):
            assert text in evil
        assert await page.eval("window.__pwned === undefined && !document.getElementById('pwn')"
                               " && !document.getElementById('pwn2') && document.querySelectorAll"
                               "('main img, main script, main b, main i, tbody svg, a').length"
                               " === 0")

        # An agent registered elsewhere after the page opened appears without a reload.
        await n2.register(agent_id="late", name="Late arrival", runtime_id="rt-late",
                          capabilities=["poetry"])
        assert await page.until("document.querySelector('#agents tr[data-id=\"late\"]')"
                                "?.dataset.status === 'active'")
        assert await page.until("[...document.querySelectorAll('#events tbody tr')].some(r => "
                                "r.dataset.type === 'agent_registered' && "
                                "r.textContent.includes('late'))")

        # Search ranks the expected agent first, with its score.
        await page.eval("document.getElementById('q').value = 'invoices pdf';"
                        "document.getElementById('search').requestSubmit(); true")
        assert await page.until(
            "document.querySelector('#results tbody tr')?.dataset.id === 'inv'")
        score = await page.eval("document.querySelector('#results tbody tr').cells[1]"
                                ".textContent")
        assert 0 < int(score) <= 100

        # The stream drops (the node closes it): the page resumes from its last event id with
        # a new ticket, and an event made meanwhile shows exactly once, with no reset.
        for s in list(n0.subscriptions):
            s.close()
        await n2.register(agent_id="gap", name="During the gap", runtime_id="rt-late",
                          capabilities=["gap"])
        assert await page.until("document.getElementById('summary').textContent"
                                ".includes('resumed 1')")
        assert await page.until(
            "[...document.querySelectorAll('#events tbody tr')].filter(r => r.dataset.type === "
            "'agent_registered' && r.cells[2].textContent === 'gap').length === 1")
        await page.until("false", 0.5)  # anything doubled would show by now
        log = await page.eval(rows("events"))
        assert sum(1 for _, t, x in log if t == "agent_registered" and "gap" in x) == 1
        assert not any(t == "reset" for _, t, _ in log)

        # A killed node turns red and dead, its agent offline, within the protocol's time.
        await n1.shutdown()
        assert await page.until("document.querySelector('#members tr[data-id=\"n1\"]')"
                                "?.dataset.state === 'dead'", 15)
        red = await page.eval("getComputedStyle(document.querySelector("
                              "'#members tr[data-id=\"n1\"] td')).backgroundColor")
        assert red == "rgb(253, 224, 221)"
        assert await page.eval("document.querySelector('#members tr[data-id=\"n1\"] .badge')"
                               ".textContent") == "dead"
        assert await page.until("document.querySelector('#agents tr[data-id=\"inv\"]')"
                                "?.dataset.status === 'offline'")
        assert await page.until("[...document.querySelectorAll('#events tbody tr')].some(r => "
                                "r.dataset.type === 'member_failed' && "
                                "r.textContent.includes('→ dead'))")
        timeline = await page.eval("document.getElementById('timeline-text').textContent")
        assert "1 dead" in timeline

        # The monitoring list, from /metrics: n0 hosts fx; inv, evil, late and gap came by gossip.
        monitor = await page.until("document.querySelector('#monitor tbody').textContent")
        assert "Agents that appeared here" in monitor and "own 1 · peer 4" in monitor
        assert "owner_failed" in monitor and "ard_search 1" in monitor

        assert await page.eval("window.__marker") == "same document"
        assert await page.eval("window.__pwned === undefined")
        # The token went in headers only; the API refused nothing once it had it.
        urls = [e["params"]["request"]["url"] for e in page.events
                if e.get("method") == "Network.requestWillBeSent"]
        assert urls and not [u for u in urls if TOKEN in u]
        api_calls = [e["params"]["request"] for e in page.events
                     if e.get("method") == "Network.requestWillBeSent"
                     and "/v1/" in e["params"]["request"]["url"]
                     and "openapi" not in e["params"]["request"]["url"]
                     and "/v1/events?" not in e["params"]["request"]["url"]]
        authed = [r for r in api_calls if r["headers"].get("Authorization") == f"Bearer {TOKEN}"]
        assert len(authed) >= len(api_calls) - 3  # the three reads before the token was given
        errors = [e for e in page.errors if "401" not in e]
        assert not errors, errors

        # Asked once: a reload in the same tab goes straight to the tables.
        await page.navigate(f"http://{n0.address}/ui")
        assert await page.until(f"{rows('members')}.length === 3")
        assert await page.eval("document.getElementById('login').hidden")
