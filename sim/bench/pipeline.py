"""What the change pipeline costs per applied change (replica merge, view derivation, events),
for this checkout and another one (e.g. the parent commit in a git worktree), in one run.

    python -m sim.bench.pipeline --parent ../parent-checkout [--sizes 1000,100000]

Receive side: one observer node receives remote writes of one owner (registrations,
heartbeats, status writes by a third node, deregistrations), one write per packet through
``handle_packet`` (its public input: framing and parsing are counted too), and drains its
events. Owner side: ``AgentRegistry.register_agent`` of agents with an A2A card, embedded.
Duplicate: a heartbeat write received again (gossip's most frequent receive). After a hole: the
heartbeat writes of an owner whose first write was lost, the hole open while they arrive.
Probe: µs per failure-detector round trip between two nodes (the prober's timer sends a
ping, the target's receive answers an ack, the prober receives it), both ends counted.
Each checkout runs in its own process (its own ``gossipreg`` first on ``sys.path``, either
layout of the core), alternately, ``--rounds`` times; the table shows the best time per change
of each and the ratio this / other (below 1: this is faster). Times are the process's CPU time
(``time.process_time``): on a shared machine the wall clock also counts the other processes.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PHASES = ("register", "heartbeat", "status", "deregister")


def _measure(n: int, m: int) -> dict[str, float]:
    """µs per applied change, per phase, at ``n`` agents (``m`` changes for the later
    phases). Runs inside the worker, on whichever gossipreg it imported."""
    lib = _layout()
    NodeConfig, Node, Write = lib.NodeConfig, lib.Node, lib.Write
    Heartbeat, StatusWrite, Stamp = lib.Heartbeat, lib.StatusWrite, lib.Stamp
    make_record, AgentStatus, Codec, pack_message = (lib.make_record, lib.AgentStatus,
                                                     lib.Codec, lib.pack_message)

    rng = random.Random(n)
    cfg = NodeConfig()
    obs = Node("obs", "obs:1", cfg, rng=random.Random(1), now=0.0)
    for peer in ("own", "rater", "gappy"):
        obs.assume_member(peer, f"{peer}:1", 1, 0.0)
    ids = [f"agent-{i:07d}" for i in range(n)]
    records = [make_record(a, a, f"rt{i % 50}", [f"skill {i:07d}", "shared"],
                           registered_at=1_700_000_000.0) for i, a in enumerate(ids)]
    picks = [rng.choice(ids) for _ in range(m)]
    version = 0

    def write(key: str, value: Any, deleted: bool = False) -> Write:
        nonlocal version
        version += 1
        return Write("own", 1, key, version, deleted, value, ())

    batches = {
        "register": [write("agent/" + r.agent_id, r) for r in records],
        "heartbeat": [write("hb/" + a, Heartbeat(i + 1, 1_700_000_100_000 + i))
                      for i, a in enumerate(picks)],
        "status": [Write("rater", 1, "status/" + a, i + 1, False,
                         StatusWrite(AgentStatus.DEGRADED if i % 2 else AgentStatus.ACTIVE,
                                     Stamp(1_700_000_200_000 + i, 0, "rater"), "bench"), ())
                   for i, a in enumerate(picks)],
        "deregister": [write("agent/" + a, None, True) for a in dict.fromkeys(picks)],
    }
    codec = Codec(cfg.cluster, None, max_packet_size=cfg.max_packet_size)
    frames = {phase: [codec.encode_packed(w.owner, f"{w.owner}:1",
                                          [pack_message(lib.write_wire(w))]) for w in ws]
              for phase, ws in batches.items()}
    out: dict[str, float] = {}
    receive, poll = obs.handle_packet, obs.poll_event
    # Trees from before wall time became an argument of the inputs take no ``wall``.
    takes_wall = "wall" in inspect.signature(Node.handle_packet).parameters
    kw: dict[str, Any] = {"wall": 1.0} if takes_wall else {}
    for phase in PHASES:
        packets = frames[phase]
        gc.collect()
        t0 = time.process_time()
        events = 0
        for payload in packets:
            receive(payload, 1.0, **kw)
            while poll() is not None:
                events += 1
        out[phase] = (time.process_time() - t0) / len(packets) * 1e6
        # Every packet was applied (a dropped one would make the figure meaningless).
        assert events >= len(packets) or phase != "register", (phase, events, len(packets))
    total = sum(len(batches[p]) for p in PHASES)
    out["all"] = sum(out[p] * len(batches[p]) for p in PHASES) / total
    # Gossip's most frequent receive: a write already held (dropped before parsing).
    out["duplicate"] = _per_packet(receive, poll, frames["heartbeat"], kw)
    # Writes of an owner whose first write was lost (the hole stays open while they arrive).
    gappy = [codec.encode_packed("gappy", "gappy:1", [pack_message(lib.write_wire(
        Write("gappy", 1, "hb/" + a, i + 2, False, Heartbeat(i + 1, 1_700_000_300_000), ())))])
        for i, a in enumerate(picks)]
    out["after_hole"] = _per_packet(receive, poll, gappy, kw)
    out["probe_rtt"] = _probe_round_trip(lib, m)
    return out


def _per_packet(receive: Any, poll: Any, packets: list[bytes], kw: dict[str, Any]) -> float:
    gc.collect()
    t0 = time.process_time()
    for payload in packets:
        receive(payload, 1.0, **kw)
        while poll() is not None:
            pass
    return (time.process_time() - t0) / len(packets) * 1e6


def _probe_round_trip(lib: Any, m: int) -> float:
    """µs per failure-detector round trip between two nodes, both ends: the prober's timer
    (a ping out), the target's receive (an ack back), the prober's receive of the ack."""
    cfg = lib.NodeConfig()
    a = lib.Node("a", "a:1", cfg, rng=random.Random(2), now=0.0)
    b = lib.Node("b", "b:1", cfg, rng=random.Random(3), now=0.0)
    a.assume_member("b", "b:1", 1, 0.0)
    b.assume_member("a", "a:1", 1, 0.0)
    takes_wall = "wall" in inspect.signature(lib.Node.handle_packet).parameters
    kw: dict[str, Any] = {"wall": 1.0} if takes_wall else {}
    nodes = {"a:1": a, "b:1": b}

    def step(now: float) -> None:
        due = a.poll_timeout()
        if due is not None and due <= now:
            a.handle_timeout(now, **kw)
        moved = True
        while moved:
            moved = False
            for n in (a, b):
                while (tx := n.poll_transmit()) is not None:
                    moved = True
                    nodes[tx.dest].handle_packet(tx.payload, now, **kw)

    now = 0.0
    for _ in range(200):  # features exchanged, the rotation warm
        now += cfg.probe_interval
        step(now)
    gc.collect()
    t0 = time.process_time()
    for _ in range(m // 4):
        now += cfg.probe_interval
        step(now)
    return (time.process_time() - t0) / (m // 4) * 1e6


class _Lib:
    """The names a measurement needs, from whichever layout the imported tree has: the flat
    core of earlier trees or its sub-packages (an import adapter, so that one file measures
    both sides of the restructure)."""

    def __init__(self) -> None:
        import importlib

        def first(*names: str) -> Any:
            for name in names:
                try:
                    return importlib.import_module(name)
                except ImportError:
                    continue
            raise ImportError(names[0])

        core = "gossipreg.core."
        records = first(core + "directory.records", core + "records")
        messages = first(core + "wire.messages", core + "messages")
        self.NodeConfig = first(core + "config").NodeConfig
        self.Node = first(core + "node").Node
        self.Write = first(core + "wire.fields", core + "replica").Write
        self.Stamp = first(core + "replica.hlc", core + "hlc").Stamp
        self.AgentStatus = first(core + "types").AgentStatus
        codec = first(core + "wire.codec", core + "codec")
        self.Codec, self.pack_message = codec.Codec, codec.pack_message
        self.Heartbeat, self.StatusWrite = records.Heartbeat, records.StatusWrite
        self.make_record = records.make_record
        values = getattr(records, "RECORD_VALUES", None)
        wire = messages.write_wire
        self.write_wire: Any = (lambda w: wire(w, values)) if values is not None else wire


def _layout() -> _Lib:
    return _Lib()


def _owner_side(n: int) -> float:
    """µs per ``AgentRegistry.register_agent`` of an agent with an A2A card, embedded (the
    owner's whole path: the facade, the card, the record, the replica, the view, the index,
    the event)."""
    import asyncio

    from gossipreg.registry import AgentRegistry

    class Agent:
        def __init__(self, i: int) -> None:
            self.agent_id = f"owned-{i:07d}"
            self.name = f"Agent {i}"
            self._a2a_card = {
                "name": self.name, "description": f"Agent number {i}", "version": "1.0.0",
                "supportedInterfaces": [{"url": f"http://127.0.0.1:9/a{i}",
                                         "protocolBinding": "JSONRPC",
                                         "protocolVersion": "1.0"}],
                "skills": [{"id": f"s{i}", "name": f"skill {i}", "description": "does work",
                            "tags": ["bench", f"t{i % 50}"], "examples": ["do the work"]}],
            }

    agents = [Agent(i) for i in range(n)]

    async def run() -> float:
        reg = AgentRegistry()
        gc.collect()
        t0 = time.process_time()
        for a in agents:
            await reg.register_agent(a, f"rt{int(a.agent_id[-7:]) % 50}")
        return (time.process_time() - t0) / n * 1e6

    return asyncio.run(run())


def _best(n: int, changes: int) -> dict[str, float]:
    """The best of a few fresh measurements when ``n`` is small (its phases are short)."""
    rounds = 5 if n <= 10_000 else 1
    runs = [_measure(n, changes) for _ in range(rounds)]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    best["owner_register"] = min(_owner_side(min(n, 20_000)) for _ in range(rounds))
    return best


def _worker(sizes: list[int], changes: int) -> None:
    print(json.dumps({str(n): _best(n, changes) for n in sizes}))


def _run(tree: Path, sizes: list[int], changes: int) -> dict[str, dict[str, float]]:
    # This file run by path: the worker imports the gossipreg of ``tree`` (first on the path);
    # -P keeps this file's folder off the path (sim/bench/select.py would shadow ``select``).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run([sys.executable, "-P", __file__, "--worker", "--sizes",
                          ",".join(map(str, sizes)), "--changes", str(changes)],
                         cwd=tree, env=env, check=True, capture_output=True, text=True)
    out: dict[str, dict[str, float]] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.bench.pipeline", description=__doc__)
    p.add_argument("--parent", type=Path,
                   help="another checkout to compare with (its sim/ need not have this file)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sizes", default="1000,100000")
    p.add_argument("--changes", type=int, default=20_000,
                   help="heartbeats / status writes / deregistrations per size")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.worker:
        _worker(sizes, a.changes)
        return 0
    if a.parent is None:
        p.error("--parent is required")
    here = Path(__file__).resolve().parents[2]
    parent = a.parent.resolve()
    best: dict[str, dict[str, dict[str, float]]] = {"this": {}, "other": {}}
    for _ in range(a.rounds):
        for name, tree in (("this", here), ("other", parent)):
            for n, row in _run(tree, sizes, a.changes).items():
                cur = best[name].setdefault(n, row)
                for k, v in row.items():
                    cur[k] = min(cur[k], v)
    print(f"pipeline cost per applied change, µs (best of {a.rounds}); this = {here}, "
          f"other = {parent}")
    print(f"{'agents':>8} {'phase':>11} {'this':>8} {'other':>8} {'this/other':>10}")
    for n in map(str, sizes):
        for k in (*PHASES, "all", "duplicate", "after_hole", "owner_register", "probe_rtt"):
            t, o = best["this"][n][k], best["other"][n].get(k, float("nan"))
            print(f"{int(n):>8,} {k:>11} {t:8.2f} {o:8.2f} {t / o:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
