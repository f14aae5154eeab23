"""What owner signatures cost (issue 24), in one run: Ed25519 sign and verify with
``cryptography``, and through each backend a node uses
(:mod:`gossipreg.io.credentials.ed25519`); the cost of a received write with signatures checked
against one without (through ``handle_packet``, one write per packet, the public input); the
memory a signature adds per agent; registrations per second with signing on and off.

    python -m sim.bench.trust [--agents 20000] [--writes 20000] [--json FILE]

Times are CPU time of this process (``time.process_time``), best of ``--rounds``: on a shared
machine the wall clock also counts the other processes. The keys are real Ed25519 keys (not the
simulator's stub), made with ``cryptography`` directly (the simulator imports no I/O layer).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.records import RECORD_VALUES, Heartbeat, make_record, wire_size
from gossipreg.core.node import Node
from gossipreg.core.replica.store import Replica, Write
from gossipreg.core.trust.proofs import Identity, Payloads
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.messages import WriteMsg, encode

CARD = {"name": "Summarizer", "description": "Summarizes documents", "version": "1.0.0",
        "url": "http://10.0.0.1:9000/rpc", "skills": [
            {"id": "sum", "name": "Summaries", "description": "Summarize a document",
             "tags": ["text", "summary"], "examples": ["summarize this"]}]}


class Signer:
    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.public_key = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class Verifier:
    def __init__(self) -> None:
        self._keys: dict[bytes, Ed25519PublicKey] = {}

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        k = self._keys.get(public_key)
        if k is None:
            k = self._keys[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
        try:
            k.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def identity() -> Identity:
    return Identity(Signer(), Verifier())


def _cpu(fn: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def ed25519(n: int, rounds: int) -> dict[str, float]:
    """µs per Ed25519 sign and verify of a record write's statement."""
    s, v = Signer(), Verifier()
    rec = make_record("a1", "A1", "rt", card=CARD)
    data = Payloads("gossipreg").write("n1", 1, "agent/a1", 7, False,
                                       RECORD_VALUES.to_wire(rec), (3,))
    sig = s.sign(data)
    v.verify(s.public_key, sig, data)
    sign_t = _cpu(lambda: [s.sign(data) for _ in range(n)] and None, rounds)
    verify_t = _cpu(lambda: [v.verify(s.public_key, sig, data) for _ in range(n)] and None,
                    rounds)
    return {"sign_us": sign_t / n * 1e6, "verify_us": verify_t / n * 1e6,
            "statement_bytes": len(data)}


def backends(n: int, rounds: int) -> dict[str, dict[str, float]]:
    """µs per sign and verify of the same statement through each of the node's Ed25519
    backends (:mod:`gossipreg.io.credentials.ed25519`), alternately in this process."""
    from gossipreg.io.credentials import ed25519 as e

    data = Payloads("gossipreg").write("n1", 1, "agent/a1", 7, False,
                                       RECORD_VALUES.to_wire(make_record("a1", "A1", "rt",
                                                                         card=CARD)), (3,))
    seed, out = e.new_seed(), {}
    made: list[e.Backend] = [e.Cryptography()]
    with contextlib.suppress(ImportError, OSError, AttributeError):  # no OpenSSL 1.1.1+ here
        made.insert(0, e.LibCrypto())
    best: dict[str, list[float]] = {}
    for _ in range(rounds):
        for b in made:
            key = b.private_key(seed)
            sig, pub = b.sign(key, data), b.public_key(b.public_of(key))
            t = [_cpu(lambda b=b, key=key: [b.sign(key, data) for _ in range(n)] and None, 1),
                 _cpu(lambda b=b, pub=pub, sig=sig: [b.verify(pub, sig, data)
                                                      for _ in range(n)] and None, 1)]
            old = best.get(b.name, [float("inf")] * 2)
            best[b.name] = [min(x, y) for x, y in zip(old, t, strict=True)]
    for name, (sign_t, verify_t) in best.items():
        out[name] = {"sign_us": sign_t / n * 1e6, "verify_us": verify_t / n * 1e6}
    return out


def received_writes(n: int, rounds: int) -> dict[str, float]:
    """µs per received heartbeat write through handle_packet, signed and checked against
    unsigned and unchecked (one write per packet, a new version each)."""
    out: dict[str, float] = {}
    cfg = NodeConfig.lan(heartbeat_timeout=None)
    codec = Codec(cfg.cluster)
    for signed in (False, True):
        best = float("inf")
        for _ in range(rounds):
            signer = Signer()
            owner = Replica("owner", 1, sign=_signing(signer) if signed else None,
                            value_size=wire_size)
            obs = Node("obs", "obs", cfg, rng=random.Random(2), now=0.0,
                       identity=identity() if signed else None)
            obs.assume_member("owner", "owner", 1, 0.0, signer.public_key if signed else None)
            owner.write("agent/a1", make_record("a1", "A1", "rt", card=CARD))
            obs.import_state(owner.delta_for({}, 1 << 40), 0.0, wall=1e9)  # the record
            frames = [codec.encode("owner", "owner", [encode(WriteMsg(owner.write(
                "hb/a1", Heartbeat(i + 1, 1_700_000_000_000))), RECORD_VALUES)])
                for i in range(n)]
            gc.collect()
            t = time.process_time()
            for i, f in enumerate(frames):
                obs.handle_packet(f, 1.0 + i * 1e-4, wall=1e9)
            best = min(best, time.process_time() - t)
            v = obs.read.get("a1")
            assert v is not None and v.heartbeat_count == n, v
        out["signed_us" if signed else "unsigned_us"] = best / n * 1e6
    out["cost_us"] = out["signed_us"] - out["unsigned_us"]
    return out


def _signing(signer: Signer) -> Callable[[Write], bytes]:
    pay = Payloads("gossipreg")

    def sign(w: Write) -> bytes:
        return signer.sign(pay.write(w.owner, w.generation, w.key, w.version, w.deleted,
                                     RECORD_VALUES.to_wire(w.value), w.supersedes))
    return sign


def memory(n: int) -> dict[str, float]:
    """Bytes per agent (record, heartbeat and status keys) held by a replica of another
    owner's writes, signed against unsigned."""
    rec = make_record("a1", "A1", "rt", card=CARD)
    out = {}
    sign = _signing(Signer())
    for signed in (False, True):
        src = Replica("owner", 1, sign=sign if signed else None)
        writes = []
        for i in range(n):
            aid = f"a{i}"
            r = make_record(aid, aid, "rt", capabilities=list(rec.capabilities))
            writes.append(src.write("agent/" + aid, r))
            writes.append(src.write("hb/" + aid, Heartbeat(1, 1_700_000_000_000)))
            writes.append(src.write("status/" + aid, Heartbeat(1, 1)))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        dst = Replica("obs", 1)
        for w in writes:  # fresh objects, as parsing makes them
            dst.apply_write(Write(w.owner, w.generation, w.key, w.version, w.deleted, w.value,
                                  tuple(list(w.supersedes)),
                                  None if w.sig is None else bytes(bytearray(w.sig))), 0.0)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del writes, src
        out["signed_bytes" if signed else "unsigned_bytes"] = used / n
        del dst
    out["per_agent_bytes"] = out["signed_bytes"] - out["unsigned_bytes"]
    return out


def registrations(n: int, rounds: int) -> dict[str, float]:
    """Registrations per CPU second on one node, signing on and off."""
    out: dict[str, float] = {}
    cfg = NodeConfig.lan(heartbeat_timeout=None)
    recs = [make_record(f"a{i}", f"a{i}", "rt", card={**CARD, "name": f"a{i}"})
            for i in range(n)]
    for signed in (False, True):
        def run(signed: bool = signed) -> None:
            node = Node("n", "n", cfg, rng=random.Random(1), now=0.0,
                        identity=identity() if signed else None)
            for i, r in enumerate(recs):
                node.register(r, i * 1e-4, wall=1e9)
                node.drop_pending_gossip()
        out["signed_per_s" if signed else "unsigned_per_s"] = n / _cpu(run, rounds)
    out["ratio"] = out["signed_per_s"] / out["unsigned_per_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.bench.trust", description=__doc__)
    p.add_argument("--agents", type=int, default=20_000)
    p.add_argument("--writes", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", metavar="FILE")
    a = p.parse_args(argv)
    rep: dict[str, Any] = {
        "ed25519": ed25519(a.writes, a.rounds),
        "backends": backends(a.writes // 4, a.rounds),
        "received_write": received_writes(a.writes, a.rounds),
        "memory": memory(a.agents),
        "registrations": registrations(a.agents // 4, a.rounds),
    }
    e, r, m, g = (rep[k] for k in ("ed25519", "received_write", "memory", "registrations"))
    print(f"Ed25519 ({e['statement_bytes']} B statement): sign {e['sign_us']:.1f} µs, "
          f"verify {e['verify_us']:.1f} µs")
    for name, b in rep["backends"].items():
        print(f"  node backend {name}: sign {b['sign_us']:.1f} µs, verify {b['verify_us']:.1f} µs")
    print(f"a received heartbeat write (handle_packet, one per packet): unsigned "
          f"{r['unsigned_us']:.1f} µs, signed and checked {r['signed_us']:.1f} µs "
          f"(+{r['cost_us']:.1f} µs)")
    print(f"memory per agent (record, heartbeat, status of another owner): unsigned "
          f"{m['unsigned_bytes']:.0f} B, signed {m['signed_bytes']:.0f} B "
          f"(+{m['per_agent_bytes']:.0f} B)")
    print(f"registrations per CPU second on one node: unsigned {g['unsigned_per_s']:.0f}, "
          f"signed {g['signed_per_s']:.0f} (ratio {g['ratio']:.2f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
