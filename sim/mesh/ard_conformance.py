"""Run the ARD project's own conformance tool against a gossipreg node that did not register
the agents it serves.

    git clone https://github.com/ards-project/ard-spec /tmp/ard-spec    # outside this repo
    pip install jsonschema                                             # strict schema checks
    python -m sim.mesh.ard_conformance --tool /tmp/ard-spec/conformance/bin/conformance-test

Two nodes on 127.0.0.1 (port 0): node ``a`` registers three agents (an A2A 1.0 card with a
provider, an A2A 0.3 card under an id outside the URN alphabet, a kaizen ``_a2a_card`` dict);
once node ``b`` sees them, the tool checks ``b``'s ``/.well-known/ard.json`` and
``/.well-known/ai-catalog.json`` in ``manifest`` mode and ``b``'s ``/ard/v1`` in ``registry``
mode. Prints the tool's output; exits non-zero if any run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from types import SimpleNamespace
from typing import Any

CARD_10: dict[str, Any] = {
    "name": "FX desk", "description": "Foreign exchange quotes", "version": "2.1.0",
    "provider": {"organization": "Acme Bank", "url": "https://acme.example"},
    "supportedInterfaces": [{"url": "http://127.0.0.1:9/a2a", "protocolBinding": "JSONRPC",
                             "protocolVersion": "1.0"}],
    "capabilities": {"streaming": True}, "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "fx-convert", "name": "Currency conversion",
                "description": "Convert an amount between currencies", "tags": ["finance"],
                "examples": ["convert 100 dollars to yen", "eur to chf rate"]}],
}
CARD_03: dict[str, Any] = {
    "name": "Summarizer", "description": "Summarizes documents", "version": "0.3.1",
    "url": "http://127.0.0.1:9/rpc", "preferredTransport": "JSONRPC", "protocolVersion": "0.3.0",
    "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "summarize", "name": "Summarize", "description": "Short summaries",
                "tags": ["text"], "examples": ["summarize this contract"]}],
}


async def run(tool: str) -> int:
    from gossipreg import AgentRegistry, GossipNode, NodeConfig

    cfg = NodeConfig.local(heartbeat_timeout=None)
    a = GossipNode("a", config=cfg)
    await a.start()
    b = GossipNode("b", config=cfg, seeds=[a.address])
    await b.start()
    worst = 0
    try:
        reg = AgentRegistry(node=a)
        await reg.register_agent(SimpleNamespace(), "rt", agent_id="fx", card=CARD_10)
        await reg.register_agent(SimpleNamespace(), "rt", agent_id="sum/03", card=CARD_03)
        await reg.register_agent(SimpleNamespace(_a2a_card={"name": "K", "capability": "code"}),
                                 "rt", agent_id="k")
        ok = await b.wait_for(lambda: all(b.get(i) for i in ("fx", "sum/03", "k")), 10.0)
        if not ok:
            print("node b never saw the agents", file=sys.stderr)
            return 1
        for args in (["manifest", f"http://{b.address}/.well-known/ard.json"],
                     ["manifest", f"http://{b.address}/.well-known/ai-catalog.json"],
                     ["registry", f"http://{b.address}/ard/v1"]):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, tool, *args, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            print(f"$ conformance-test {' '.join(args)}  (exit {proc.returncode})")
            print(out.decode())
            worst = max(worst, proc.returncode or 0)
    finally:
        await b.shutdown()
        await a.shutdown()
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", required=True, help="path to conformance/bin/conformance-test")
    raise SystemExit(asyncio.run(run(ap.parse_args().tool)))


if __name__ == "__main__":
    main()
