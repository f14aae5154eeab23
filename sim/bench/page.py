"""The node's page: its weight, and the time until its members and agents tables are filled,
measured in a real browser (headless chromium over DevTools, sim/bench/chromium.py).

    python -m sim.bench.page [--agents 10 100 1000] [--reps 5] [--shots DIR [--shot-seconds 45]]

A 3-node mesh on loopback (in this process, NodeConfig.local()) holds the agents, registered
across its nodes; the page is opened on node 0 ``reps`` times per size. The time is the
page's own mark ``gossipreg-tables-filled`` (set once the first reads of /v1/health,
/v1/members and /v1/agents are rendered), in milliseconds since the navigation started, as the
browser's performance timeline reports it; the bytes are the files as shipped and what the
browser transferred. ``--shots DIR`` also saves screenshots of the page in the states the
browser test checks: the mesh, a search, a killed node (PNG, for the README).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.io.api.ui import FILES, page_weight, static_bytes
from sim.bench.chromium import Chromium, Page, chromium_missing

FILLED = "(performance.getEntriesByName('gossipreg-tables-filled')[0]?.startTime ?? null)"
TRANSFERRED = ("performance.getEntriesByType('navigation').concat(performance.getEntriesByType("
               "'resource')).filter(e => e.name.includes('/ui')).reduce((n, e) => n + "
               "e.encodedBodySize, 0)")
SKILLS = ["translate documents", "summarise reports", "extract invoices", "answer questions",
          "convert currencies", "write code", "plan trips", "classify images"]


async def mesh() -> list[GossipNode]:
    cfg = NodeConfig.local(heartbeat_timeout=None)
    first = await GossipNode("node-0", config=cfg).start()
    nodes = [first] + [await GossipNode(f"node-{i}", config=cfg, seeds=[first.address]).start()
                       for i in (1, 2)]
    await _wait(lambda: all(sum(m.state is MemberState.ALIVE for m in n.members()) == 3
                            for n in nodes), 20)
    return nodes


async def _wait(pred: object, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():  # type: ignore[operator]
        if loop.time() > end:
            raise TimeoutError("the mesh did not converge")
        await asyncio.sleep(0.05)


async def grow(nodes: list[GossipNode], total: int) -> None:
    """Register agents until the mesh holds ``total`` (spread over the nodes)."""
    have = len(nodes[0].list_agents())
    for i in range(have, total):
        n = nodes[i % 3]
        await n.register(agent_id=f"agent-{i:05d}", name=f"Agent {i}", runtime_id=f"rt-{i % 7}",
                         capabilities=[SKILLS[i % len(SKILLS)]], tags=[f"team-{i % 4}"],
                         description=f"Agent number {i}, which can {SKILLS[i % len(SKILLS)]}")
    await _wait(lambda: all(len(n.list_agents()) == total for n in nodes), 60)


async def time_to_tables(page: Page, url: str, agents: int) -> float:
    await page.navigate(url)
    filled = await page.until(
        f"document.querySelectorAll('#agents tbody tr').length === {agents} && {FILLED}", 60)
    if not filled:
        raise TimeoutError("the tables were not filled")
    return float(filled)


FX_CARD = {"name": "FX rates", "description": "Converts currencies at today's rates",
           "version": "2.1", "supportedInterfaces": [
               {"url": "http://10.0.0.7:9000/a2a", "protocolBinding": "JSONRPC",
                "protocolVersion": "1.0"}],
           "skills": [{"id": "fx", "name": "Currency conversion", "description": "EUR to USD",
                       "tags": ["finance"]}]}


async def shots(page: Page, out: Path, seconds: float) -> None:
    """Screenshots of a small mesh (eight agents, one with a card) over ``seconds``: the page
    opens, an agent turns degraded, a search, a late agent, node-1 killed."""
    out.mkdir(parents=True, exist_ok=True)
    nodes = await mesh()
    try:
        await nodes[0].register(agent_id="fx-rates", runtime_id="rt-finance", card=FX_CARD,
                                capabilities=["convert currencies"], tags=["finance"])
        await grow(nodes, 8)
        await _shots(page, nodes, out, seconds)
    finally:
        for n in nodes:
            await n.shutdown()


async def _shot(page: Page, path: Path, **kw: float) -> None:
    print(f"  {path}: {await page.screenshot(path, **kw)} bytes")


async def _shots(page: Page, nodes: list[GossipNode], out: Path, seconds: float) -> None:
    n0, n1, n2 = nodes
    await page.navigate(f"http://{n0.address}/ui")
    await page.until("document.querySelectorAll('#agents tbody tr').length > 0", 20)
    await asyncio.sleep(seconds / 3)
    await n1.set_status("agent-00004", AgentStatus.DEGRADED, "slow replies")
    await asyncio.sleep(seconds / 3)
    await _shot(page, out / "page-mesh.png")
    await page.eval("document.getElementById('q').value = 'extract invoices';"
                    "document.getElementById('search').requestSubmit(); true")
    await page.until("document.querySelector('#results tbody tr')", 10)
    await _shot(page, out / "page-search.png")
    await n2.register(agent_id="late", name="Late arrival", runtime_id="rt-late",
                      capabilities=["write poems"])
    await n1.shutdown()
    await page.until("document.querySelector('#members tr[data-id=\"node-1\"]')"
                     "?.dataset.state === 'dead'", 20)
    await asyncio.sleep(seconds / 3)
    await _shot(page, out / "page-killed.png")
    # The README's: the top of the page, scaled down.
    await _shot(page, out / "page-small.png", scale=0.6, height=1010)


async def main(args: argparse.Namespace) -> int:
    why = chromium_missing()
    if why is not None:
        print(f"page benchmark: {why}", file=sys.stderr)
        return 1
    parts = ", ".join(f"{name} {len(static_bytes(name))}" for name, _ in FILES.values())
    print(f"page weight: {page_weight()} bytes ({parts})")
    nodes = await mesh()
    try:
        async with Chromium.launch() as browser:
            page = await browser.page()
            url = f"http://{nodes[0].address}/ui"
            print("agents  time to members+agents tables filled (ms, in the browser)")
            for size in args.agents:
                await grow(nodes, size)
                times = [await time_to_tables(page, url, size) for _ in range(args.reps)]
                print(f"{size:>6}  median {statistics.median(times):7.1f}  min {min(times):7.1f}"
                      f"  max {max(times):7.1f}  (reps {args.reps})")
            sent = await page.eval(TRANSFERRED)
            print(f"bytes the browser received for the page's files: {sent}")
            for n in nodes:
                await n.shutdown()
            if args.shots is not None:
                await shots(page, args.shots, args.shot_seconds)
    finally:
        for n in nodes:
            await n.shutdown()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--shots", type=Path, default=None, help="save screenshots in this folder")
    ap.add_argument("--shot-seconds", type=float, default=45.0,
                    help="how long the screenshots' scenario runs")
    sys.exit(asyncio.run(main(ap.parse_args())))
