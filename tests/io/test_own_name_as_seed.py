"""Joining with a live node's name through that same node as the seed is refused as clearly as
through any other seed (it was "no seed answered" while the seed dropped the join as
``from_self``)."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from gossipreg import GossipNode, NodeConfig

pytestmark = pytest.mark.network
CFG = NodeConfig.local()


async def test_a_seed_refuses_a_join_in_its_own_name(caplog: pytest.LogCaptureFixture) -> None:
    seed = await GossipNode("a", config=CFG).start()
    twin = GossipNode("a", seeds=[seed.address], config=CFG)
    try:
        with caplog.at_level(logging.WARNING, logger="gossipreg.core.names"):
            await twin.start()
            assert await twin.wait_for(lambda: twin.core.join_refused is not None, 15.0)
        assert twin.core.join_refused == (f"node name 'a' is already used by a live node at "
                                          f"{seed.address}")
        assert any(f"refused a join as 'a' from {twin.address}" in r.getMessage()
                   for r in caplog.records)
        assert seed.read.metrics().dropped["duplicate_name"] >= 1
        assert [m.node_id for m in seed.members()] == ["a"]  # nothing merged
    finally:
        await twin.shutdown()
        await seed.shutdown()


async def test_the_cli_says_so_and_exits_1() -> None:
    seed = await GossipNode("a", config=CFG).start()
    try:
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gossipreg", "node", "--name", "a", "--bind", "127.0.0.1:0",
            "--profile", "local", "--join", seed.address, "--join-timeout", "3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(p.communicate(), 30)
        assert p.returncode == 1
        text = err.decode()
        assert f"join refused: node name 'a' is already used by a live node at {seed.address}" \
            in text and "no seed answered" not in text
    finally:
        await seed.shutdown()
