"""A hostile peer over the real transport: a client that holds the cluster key (it frames and
MACs like a node, and POSTs to ``/v1/gossip``) but not node B's identity tries to
(a) re-point B's agent's endpoint, (b) deregister B's agent, (c) set its status, (d) forge B's
Alive with a new address, (e) replay B's old record, (f) announce a higher generation of B,
(g) send a manifest that would delete B's keys. With identities (signatures required: the
first node started the cluster) every attempt is refused on every node and counted by reason,
and B's agents are unchanged everywhere; without them (nothing signed or checked, as before
this release) each attempt succeeds on the other nodes, so the test can fail.

Three in-process nodes on 127.0.0.1 port 0; bounded waits (tests.support.until)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gossipreg import GossipNode, NodeConfig
from gossipreg.core.directory.records import RECORD_VALUES, StatusWrite, make_record
from gossipreg.core.replica.hlc import Stamp
from gossipreg.core.trust.proofs import Payloads
from gossipreg.core.types import AgentStatus, MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.fields import OwnerDelta, Proof, Write
from gossipreg.core.wire.keyring import Keyring
from gossipreg.core.wire.messages import Alive, Message, SyncAck, WriteMsg, encode
from gossipreg.io.credentials.identity import Ed25519Signer
from tests.support import until

pytestmark = pytest.mark.network

KEY = b"k" * 32  # the cluster key: the attacker has it
AGENTS = "abcdefg"  # one agent of B's per attack
URL = "http://b.example:8080/rpc"
EVIL = "http://evil.example:6666/rpc"


def card(url: str) -> dict[str, Any]:
    return {"name": "B's agent", "url": url, "skills": [
        {"id": "s", "name": "S", "description": "summaries", "tags": ["t"]}]}


@pytest.fixture(params=[True, False], ids=["signed", "unsigned"])
async def mesh(request: pytest.FixtureRequest, tmp_path: Path
               ) -> AsyncIterator[tuple[bool, dict[str, GossipNode]]]:
    signed: bool = request.param
    cfg = NodeConfig.local(heartbeat_timeout=None)
    nodes: dict[str, GossipNode] = {}
    for name in ("A", "B", "C"):
        ident = str(tmp_path / name / "identity.key") if signed else None
        seeds = [nodes["A"].address] if nodes else []
        nodes[name] = GossipNode(name, config=cfg, keyring=Keyring([KEY]), seeds=seeds,
                                 identity_file=ident, sign=signed)
        await nodes[name].start()
    try:
        assert await until(lambda: all(
            {m.node_id: m.state for m in n.members()} == dict.fromkeys(nodes, MemberState.ALIVE)
            for n in nodes.values()), 10.0)
        if signed:  # every node pinned every other's key, and requires signatures
            assert await until(lambda: all(
                set(n.core.pinned()[0]) == set(nodes) - {k} for k, n in nodes.items()), 10.0)
            assert all(n.core.trust is not None and n.core.trust.required
                       for n in nodes.values())
        yield signed, nodes
    finally:
        for n in nodes.values():
            await n.shutdown()


class Mallory:
    """Holds the cluster key and a key pair of its own; speaks to nodes over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, cluster: str) -> None:
        self.session = session
        self.codec = Codec(cluster, Keyring([KEY]))
        self.signer = Ed25519Signer.generate()
        self.pay = Payloads(cluster)
        self.addr = "127.0.0.1:9"  # nothing listens there

    def sign_write(self, w: Write) -> Write:
        """``w`` signed with Mallory's key (a real Ed25519 signature, by the wrong key)."""
        sig = self.signer.sign(self.pay.write(w.owner, w.generation, w.key, w.version,
                                              w.deleted, RECORD_VALUES.to_wire(w.value),
                                              w.supersedes))
        return dataclasses.replace(w, sig=sig)

    def proof(self, node: str, addr: str, generation: int, incarnation: int) -> Proof:
        k = self.signer.public_key
        return Proof(k, self.signer.sign(self.pay.alive(node, addr, generation, incarnation, k)))

    async def send(self, nodes: dict[str, GossipNode], *msgs: Message) -> None:
        frame = self.codec.encode("mallory", self.addr, [encode(m, RECORD_VALUES) for m in msgs])
        for n in nodes.values():
            async with self.session.post(f"http://{n.address}/v1/gossip", data=frame) as r:
                assert r.status in (200, 204, 403), r.status


def endpoint(n: GossipNode, aid: str) -> str | None:
    v = n.get(aid)
    return None if v is None else v.record.endpoints[0].url


def drops(n: GossipNode) -> dict[str, int]:
    return dict(n.core.metrics.dropped)


def moved(before: dict[str, int], n: GossipNode) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in drops(n).items() if v != before.get(k, 0)}


async def test_a_hostile_peer_with_the_cluster_key(
        mesh: tuple[bool, dict[str, GossipNode]]) -> None:
    signed, nodes = mesh
    a, b, c = nodes["A"], nodes["B"], nodes["C"]
    others = {"A": a, "C": c}
    for x in AGENTS:
        await b.register(agent_id=x, name=x, runtime_id="rt-b",
                         card=card("http://old.example:1/rpc" if x == "e" else URL))
    assert await until(lambda: all(n.get(x) for n in nodes.values() for x in AGENTS), 5.0)
    # (e)'s material: B's record as it was first written (signed, when B signs), then B
    # registers the agent again with another endpoint.
    old = b.core.dir.replica.get("B", "agent/e")
    assert old is not None and (old.sig is not None) is signed
    old_write = Write("B", b.core.generation, "agent/e", old.version, False, old.value, old.sup,
                      old.sig)
    assert await b.deregister("e")
    assert await until(lambda: all(n.get("e") is None for n in nodes.values()), 5.0)
    await b.register(agent_id="e", name="e", runtime_id="rt-b", card=card(URL))
    assert await until(lambda: all(endpoint(n, x) == URL for n in nodes.values()
                                   for x in AGENTS), 5.0)
    want = {x: (URL, AgentStatus.ACTIVE) for x in AGENTS}

    def shown(n: GossipNode) -> dict[str, tuple[str | None, AgentStatus | None]]:
        return {x: (endpoint(n, x), v.status if (v := n.get(x)) else None) for x in AGENTS}

    gen = b.core.generation
    me = b.core.members.me
    addr, inc = me.addr, me.incarnation

    def ver(key: str) -> int:
        e = b.core.dir.replica.get("B", key)
        assert e is not None
        return e.version

    top = b.core.dir.replica.max_version("B")
    evil_record = make_record("a", "a", "rt-b", card=card(EVIL),
                              registered_at=b.get("a").record.registered_at)  # type: ignore[union-attr]
    stamp = Stamp(int(time.time() * 1000) + 60_000, 0, "B")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        mal = Mallory(session, a.config.cluster)
        attacks: dict[str, list[Message]] = {
            "a": [WriteMsg(Write("B", gen, "agent/a", top + 10, False, evil_record,
                                 (ver("agent/a"),))),
                  WriteMsg(mal.sign_write(Write("B", gen, "agent/a", top + 11, False,
                                                evil_record, (ver("agent/a"),))))],
            "b": [WriteMsg(Write("B", gen, "agent/b", top + 12, True, "deregistered",
                                 (ver("agent/b"),))),
                  WriteMsg(mal.sign_write(Write("B", gen, "agent/b", top + 13, True,
                                                "deregistered", (ver("agent/b"),))))],
            "c": [WriteMsg(Write("B", gen, "status/c", top + 14, False,
                                 StatusWrite(AgentStatus.UNHEALTHY, stamp, "pwned"), ())),
                  WriteMsg(mal.sign_write(Write(
                      "B", gen, "status/c", top + 15, False,
                      StatusWrite(AgentStatus.UNHEALTHY, stamp, "pwned"), ()))),
                  WriteMsg(Write("mallory", 1, "status/c", 1, False, StatusWrite(
                      AgentStatus.UNHEALTHY, Stamp(stamp.wall_ms, 0, "mallory"), "pwned"),
                      ()))],
            "e": [WriteMsg(old_write),  # the exact replay: an older version
                  WriteMsg(dataclasses.replace(old_write, version=top + 16,
                                               supersedes=(ver("agent/e"),)))],
            "g": [SyncAck(7, (OwnerDelta(
                "B", gen, 0, top, (), True,
                tuple((k, ver(k)) for k in b.core.dir.replica.keys_of("B")
                      if not k.endswith("/g")), top),), None, None, False)],
        }
        for x, msgs in attacks.items():
            before = {k: drops(n) for k, n in nodes.items()}
            dups = {k: n.core.metrics.duplicates_in for k, n in nodes.items()}
            await mal.send(nodes, *msgs)
            if not signed:
                succeeded: Any = {
                    "a": lambda n: endpoint(n, "a") == EVIL,
                    "b": lambda n: n.get("b") is None,
                    "c": lambda n: n.get("c") is not None
                    and n.get("c").status is AgentStatus.UNHEALTHY,  # type: ignore[union-attr]
                    "e": lambda n: endpoint(n, "e") == "http://old.example:1/rpc",
                    "g": lambda n: n.get("g") is None,
                }[x]
                assert await until(lambda s=succeeded: all(s(n) for n in others.values()),
                                   5.0), (
                    x, {k: shown(n) for k, n in others.items()})
                continue
            for k, n in nodes.items():  # refused on every node, each counted by reason
                got = moved(before[k], n)
                expect = {"a": {"unsigned_write", "bad_signature"},
                          "b": {"unsigned_write", "bad_signature"},
                          "c": {"unsigned_write", "bad_signature"},
                          "e": {"bad_signature"}, "g": {"relayed_manifest"}}[x]
                assert expect <= set(got), (x, k, got)
                if x == "e" and k != "B":  # the replay itself: known news, dropped early
                    assert n.core.metrics.duplicates_in > dups[k], (x, k)

        # (d) B's Alive with a new address, (f) a higher generation of B.
        forged_d = [Alive("B", mal.addr, gen, inc + 5),
                    Alive("B", mal.addr, gen, inc + 6, mal.proof("B", mal.addr, gen, inc + 6))]
        forged_f = [Alive("B", addr, gen + 1, 0),
                    Alive("B", addr, gen + 1, 0, mal.proof("B", addr, gen + 1, 0))]
        for x, msgs in (("d", forged_d), ("f", forged_f)):
            before = {k: drops(n) for k, n in nodes.items()}
            await mal.send(nodes, *msgs)
            if not signed:
                def took(n: GossipNode, x: str = x) -> bool:
                    m = {i.node_id: i for i in n.members()}["B"]
                    return m.address == mal.addr if x == "d" else m.generation == gen + 1
                assert await until(lambda: all(took(n) for n in others.values()), 5.0), x
                if x == "f":  # B's state was replaced: its agents are gone there
                    assert await until(lambda: all(n.get(y) is None for n in others.values()
                                                   for y in AGENTS), 5.0)
                continue
            for k, n in nodes.items():
                got = moved(before[k], n)
                assert {"unsigned_member", "key_mismatch"} <= set(got), (x, k, got)

    if signed:
        # Nothing moved, anywhere: B is ALIVE at its address and generation, its agents as
        # registered. (A node handles a frame before it answers the POST; a write B makes now
        # reaching every node shows that whatever was taken in would have spread too.)
        await b.register(agent_id="z", name="z", runtime_id="rt-b", card=card(URL))
        assert await until(lambda: all(n.get("z") for n in nodes.values()), 5.0)
        for k, n in nodes.items():
            info = {i.node_id: i for i in n.members()}["B"]
            assert (info.address, info.generation, info.state) == (addr, gen,
                                                                  MemberState.ALIVE), k
            assert shown(n) == want, (k, shown(n))
        report = {k: {r: v for r, v in drops(n).items() if v} for k, n in nodes.items()}
        print(json.dumps(report))
