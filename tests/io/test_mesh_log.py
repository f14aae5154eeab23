"""Operator lines (gossipreg/io/mesh_log.py): one per member change with name and address,
the words of a refutation and a recovery, agent events at debug, a rate limit that says what
it held back; and a node's own join says what it found."""

from __future__ import annotations

import logging

import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.types import RegistryEvent, RegistryEventType
from gossipreg.io.mesh_log import MeshLog

E = RegistryEventType


def member(kind: RegistryEventType, node: str = "p2", source: str | None = None
           ) -> RegistryEvent:
    meta = {"node_id": node, "address": "10.0.0.2:7946", "incarnation": 1, "generation": 5}
    if source:
        meta["source"] = source
    return RegistryEvent(kind, None, None, 0.0, meta)


def collect(**kw: object) -> tuple[MeshLog, list[tuple[int, str]], list[float]]:
    lines: list[tuple[int, str]] = []
    now = [0.0]
    log = MeshLog(lambda level, text: lines.append((level, text)), clock=lambda: now[0],
                  **kw)  # type: ignore[arg-type]
    return log, lines, now


def test_member_changes_in_words() -> None:
    log, lines, _ = collect()
    for ev in (member(E.MEMBER_JOINED), member(E.MEMBER_SUSPECT, source="p1"),
               member(E.MEMBER_ALIVE), member(E.MEMBER_SUSPECT),
               member(E.MEMBER_FAILED, source="p3"),
               member(E.MEMBER_ALIVE), member(E.MEMBER_LEFT),
               RegistryEvent(E.AGENT_HEARTBEAT, "a", "rt", 0.0, {"count": 1}),
               RegistryEvent(E.AGENT_REGISTERED, "a", "rt", 0.0, {"node_id": "p2"})):
        log.event(ev)
    assert lines == [
        (logging.INFO, "member joined: p2 at 10.0.0.2:7946"),
        (logging.INFO, "member suspect: p2 at 10.0.0.2:7946 (suspected by p1)"),
        (logging.INFO, "member refuted a suspicion: p2 at 10.0.0.2:7946"),
        (logging.INFO, "member suspect: p2 at 10.0.0.2:7946 (suspected by us)"),
        (logging.INFO, "member failed: p2 at 10.0.0.2:7946 (declared dead by p3)"),
        (logging.INFO, "member recovered: p2 at 10.0.0.2:7946"),
        (logging.INFO, "member left: p2 at 10.0.0.2:7946"),
        (logging.DEBUG, "agent registered: a of rt on p2"),
    ]


def test_a_flood_is_held_back_and_counted() -> None:
    log, lines, now = collect(rate=2.0, burst=3)
    for i in range(10):
        log.event(member(E.MEMBER_JOINED, f"n{i}"))
    assert len(lines) == 3
    now[0] = 1.0  # two more lines' worth
    log.event(member(E.MEMBER_JOINED, "late"))
    assert lines[3] == (logging.WARNING, "7 mesh log lines held back (at most 2 a second)")
    assert lines[4] == (logging.INFO, "member joined: late at 10.0.0.2:7946")


@pytest.mark.network
async def test_a_joining_node_says_what_it_found(caplog: pytest.LogCaptureFixture) -> None:
    seed = await GossipNode("seed", config=NodeConfig.local()).start()
    await seed.register(agent_id="a1", name="A", runtime_id="rt", capabilities=["x"])
    with caplog.at_level(logging.INFO, logger="gossipreg.mesh"):
        node = await GossipNode("n", seeds=[seed.address], config=NodeConfig.local()).start()
        try:
            assert await node.wait_for(lambda: any(
                "member joined: n at" in r.getMessage() for r in caplog.records), 5.0)
            joined = [r.getMessage() for r in caplog.records
                      if r.getMessage().startswith("joined the mesh")]
            assert joined == ["joined the mesh: 2 members alive, 1 agents"]
            assert any(r.getMessage() == f"member joined: seed at {seed.address}"
                       for r in caplog.records)
        finally:
            await node.shutdown()
            await seed.shutdown()


def test_it_takes_agent_events_only_when_it_would_write_them() -> None:
    own, _, _ = collect()  # an emit of its own: every line is written
    assert own.takes(E.AGENT_REGISTERED) and own.takes(E.MEMBER_JOINED)
    assert not own.takes(E.AGENT_HEARTBEAT)  # never a line
    default = MeshLog()
    logger = logging.getLogger("gossipreg.mesh")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        assert not default.takes(E.AGENT_REGISTERED) and default.takes(E.MEMBER_FAILED)
        logger.setLevel(logging.DEBUG)
        assert default.takes(E.AGENT_REGISTERED)
    finally:
        logger.setLevel(before)
