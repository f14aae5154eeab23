"""Search vectors through the simulator: converged nodes answer alike, owner-written vectors
travel and are used only by nodes of the same model, hostile ones are kept unused and counted."""

from __future__ import annotations

import hashlib
import random

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import VEC, make_record, to_wire
from gossipreg.core.node import Node
from gossipreg.core.search.terms import evidence_texts
from gossipreg.core.search.vectors import VectorSet, quantize
from gossipreg.core.types import AgentRecord
from sim.cluster import Cluster

DIMS = 16
WORDS = ["invoice", "payment", "weather", "forecast", "translate", "japanese", "contract",
         "review", "flight", "hotel", "tax", "return", "kubernetes", "incident", "logo", "art"]


def fake_code(text: str, dims: int = DIMS) -> bytes:
    """A deterministic stand-in for an embedding: one component per word's hash, summed."""
    v = [0.0] * dims
    for w in text.lower().split():
        h = hashlib.sha256(w.encode()).digest()
        for i in range(dims):
            v[i] += (h[i] - 127.5) / 127.5
    return quantize(v if any(v) else [1.0] * dims)


def embed(record: AgentRecord, model: str, dims: int = DIMS) -> VectorSet:
    return VectorSet(model, dims, tuple(fake_code(t, dims) for t in evidence_texts(record)))


def card(rng: random.Random) -> dict[str, object]:
    words = lambda k: " ".join(rng.sample(WORDS, k))  # noqa: E731
    return {"name": words(2).title(), "description": words(5), "capabilities": {},
            "skills": [{"id": f"s{j}", "name": words(2), "description": words(4),
                        "tags": [rng.choice(WORDS)], "examples": [words(4)]}
                       for j in range(rng.randint(1, 3))]}


def mesh(n: int, seed: int) -> Cluster:
    c = Cluster(seed=seed, config=NodeConfig.lan(heartbeat_timeout=None))
    c.add_node("n0")
    for i in range(1, n):
        c.add_node(f"n{i}", seeds=["n0"])
    assert c.run_until_true(c.all_alive_everywhere, 10.0) is not None
    return c


def register(c: Cluster, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = sorted(c.nodes)
    ids = []
    for i in range(count):
        aid = f"agent-{i:02d}"
        name = names[i % len(names)]
        c.node(name).register(
            make_record(aid, None, f"rt{i % 3}", card=card(rng), registered_at=1.7e9 + i), c.now,
            wall=c.wall(name))
        ids.append(aid)
    c.run_for(5.0)
    return ids


def work_off(c: Cluster, name: str, model: str, batch: int, reverse: bool = False) -> int:
    """Embed what the node's queue holds, ``batch`` at a time; the number embedded."""
    node, done = c.node(name), 0
    while items := node.vectors.take(batch):
        for _, record in reversed(items) if reverse else items:
            node.vectors.put(record, embed(record, model), c.now)
            done += 1
        c.drain(c.nodes[name])
    return done


def answers(node: Node) -> list[object]:
    out: list[object] = []
    for q in ["invoice payment", "japanese contract review", "weather", "flight hotel tax",
              "kubernetes incident art", "zzqx"]:
        code = fake_code(q)
        out.append([(h.agent.agent_id, h.score) for h in node.read.search(q, None, 10, 0, code)])
        out.append([(h.agent.agent_id, h.score) for h in node.read.search(
            q, {"runtime": ["rt1", "rt2"]}, 5, 1, code)])
    return out


def test_converged_nodes_answer_alike_with_their_own_vectors() -> None:
    c = mesh(3, seed=4)
    model = "fake/hash-16"
    c.node("n0").vectors.use(model, DIMS, "all")  # before the records: the queue fills
    ids = register(c, 24, seed=9)
    for name in ("n1", "n2"):  # after them: use() queues what is already visible
        c.node(name).vectors.use(model, DIMS, "all")
    # Each node embeds on its own schedule, in its own batches and order.
    assert work_off(c, "n0", model, 5) == len(ids)
    assert work_off(c, "n1", model, 7, reverse=True) == len(ids)
    assert work_off(c, "n2", model, 100) == len(ids)
    assert c.replicas_equal()  # local vectors are not written: nothing travelled
    modes = [c.node(n).read.search_mode() for n in ("n0", "n1", "n2")]
    assert all(m.model == model and m.with_vectors == len(ids) and m.pending == 0
               for m in modes)
    first = answers(c.node("n0"))
    assert any(first) and answers(c.node("n1")) == first == answers(c.node("n2"))
    # A re-registration drops the old record's vectors and queues the new record.
    n0 = c.node("n0")
    assert n0.deregister("agent-00", c.now, wall=c.wall("n0")) is True
    n0.register(make_record("agent-00", "Weather", "rt0", ["weather forecast"]), c.now,
                wall=c.wall("n0"))
    c.run_for(5.0)
    assert [a for a, _ in n0.vectors.take(10)] == ["agent-00"]
    assert n0.read.search_mode().with_vectors == len(ids) - 1


def test_owner_written_vectors_serve_nodes_of_that_model_only() -> None:
    c = mesh(4, seed=5)
    api, other = "openai/emb-16", "ollama/other-16"
    for name in ("n0", "n1", "n2"):
        c.node(name).vectors.use(api, DIMS, "own")
    c.node("n3").vectors.use(other, DIMS, "own")
    ids = register(c, 16, seed=3)
    for name in ("n0", "n1", "n2"):  # each owner embeds its own records, once for everyone
        assert work_off(c, name, api, 3) == len(ids) // 4
    assert work_off(c, "n3", other, 3) == len(ids) // 4
    c.run_for(5.0)
    assert c.replicas_equal()
    for name in ("n0", "n1", "n2"):  # n3's vectors are of another model: ignored
        assert c.node(name).read.search_mode().with_vectors == len(ids) * 3 // 4
    assert c.node("n3").read.search_mode().with_vectors == len(ids) // 4
    first = answers(c.node("n0"))
    assert answers(c.node("n1")) == first == answers(c.node("n2"))
    # Deregistering deletes the owner's vectors with the record.
    owned = c.node("n1").read.own_agents()[0]
    assert c.node("n1").deregister(owned, c.now, wall=c.wall("n1")) is True
    c.run_for(5.0)
    assert all(VEC + owned not in c.node(n).read.replica_state()["n1"][1]
               for n in ("n0", "n1", "n2", "n3"))
    assert c.node("n0").read.search_mode().with_vectors == len(ids) * 3 // 4 - 1


def test_hostile_vectors_are_kept_unused_and_counted() -> None:
    c = mesh(3, seed=6)
    api = "openai/emb-16"
    for name in c.nodes:
        c.node(name).vectors.use(api, DIMS, "own")
    register(c, 12, seed=2)
    hostile = c.node("n0")
    mine = hostile.read.own_agents()
    # Written by a misbehaving owner under agents it owns: mixed lengths, too many, out of
    # range, and our model's tag with another length.
    bad = [[api, [bytes(DIMS), bytes(DIMS - 1)]], [api, [bytes(DIMS)] * 9],
           [api, [b"\x80" * DIMS]], VectorSet(api, 8, (bytes(8),))]
    assert len(mine) == len(bad)
    for aid, value in zip(mine, bad, strict=True):
        w, _ = hostile.dir.replica.put(VEC + aid, value)
        hostile.out.gossip_write(w, c.now)
    c.drain(c.nodes["n0"])
    c.run_for(10.0)
    # Kept and relayed as they came (no hole in n0's versions), never used.
    assert c.replicas_equal(["n1", "n2"])
    held = c.node("n1").read.replica_state()["n0"][1]
    assert [to_wire(held[VEC + aid][1]) for aid in mine] == [to_wire(v) for v in bad]
    for name in ("n1", "n2"):
        node = c.node(name)
        assert node.metrics.dropped.get("bad_vectors", 0) == len(bad)
        assert node.read.search_mode().with_vectors == 0
        assert node.read.search("invoice", None, 10, 0, fake_code("invoice")) is not None
