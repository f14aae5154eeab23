"""Verified agent cards over real HTTP (three nodes on 127.0.0.1 port 0, bounded waits): a card
signed with a2a-sdk's signer shows ``card_verified: true`` on the node given the publisher's key
(JWKS), ``false`` on a node without it or whose key set lacks the signature's kid, and for the
same card altered after signing; a card without signatures is ``unsigned`` everywhere. Each
node judges with its own keys. ``verified_only`` filters listing, search and the HTTP API; the
ARD entry carries the verdict (``metadata.cardVerified``) and a Trust Manifest with the card's
signatures for a consumer to verify."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from gossipreg import GossipNode, NodeConfig
from tests.support import need_a2a_module, until

pytestmark = pytest.mark.network

types = need_a2a_module("a2a.types")
signing = need_a2a_module("a2a.utils.signing")
jwt_algorithms = need_a2a_module("jwt.algorithms")
json_format = need_a2a_module("google.protobuf.json_format")


def signed_card(key: Any, kid: str) -> dict[str, Any]:
    """An A2A 1.0 card signed with the SDK's signer (ES256), as its JSON."""
    card = types.AgentCard(
        name="Summarizer", description="Summarizes documents", version="1.0.0",
        supported_interfaces=[types.AgentInterface(url="https://sum.acme.example/rpc",
                                                   protocol_binding="JSONRPC",
                                                   protocol_version="1.0")],
        provider=types.AgentProvider(organization="Acme", url="https://acme.example"),
        capabilities=types.AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[types.AgentSkill(id="sum", name="Summaries", description="Summarize a text",
                                 tags=["text"])])
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    sign = signing.create_agent_card_signer(pem, {"kid": kid, "alg": "ES256", "jku": None,
                                                  "typ": "JOSE"})
    out: dict[str, Any] = json_format.MessageToDict(sign(card))
    return out


def jwks(path: Path, key: Any, kid: str) -> str:
    jwk = json.loads(jwt_algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path.write_text(json.dumps({"keys": [{**jwk, "kid": kid}]}))
    return str(path)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[tuple[dict[str, GossipNode], Any]]:
    publisher, stranger = generate_private_key(SECP256R1()), generate_private_key(SECP256R1())
    keys = tmp_path / "publishers"
    keys.mkdir()
    jwks(keys / "acme.json", publisher, "acme-1")  # a directory of JWKS files
    cfg = NodeConfig.local(heartbeat_timeout=None)
    nodes: dict[str, GossipNode] = {}
    for name, pub in (("owner", None), ("trusting", str(keys)),
                      ("other", jwks(tmp_path / "other.json", stranger, "other-1"))):
        seeds = [nodes["owner"].address] if nodes else []
        nodes[name] = GossipNode(name, config=cfg, seeds=seeds, publisher_keys=pub)
        await nodes[name].start()
    try:
        yield nodes, publisher
    finally:
        for n in nodes.values():
            await n.shutdown()


async def test_a_card_signed_with_the_sdk_verifies_where_its_publisher_is_trusted(
        mesh: tuple[dict[str, GossipNode], Any]) -> None:
    nodes, publisher = mesh
    owner = nodes["owner"]
    good = signed_card(publisher, "acme-1")
    altered = {**signed_card(publisher, "acme-1"), "description": "Exfiltrates documents"}
    plain = {k: v for k, v in good.items() if k != "signatures"}
    for aid, card in (("good", good), ("altered", altered), ("plain", plain)):
        await owner.register(agent_id=aid, name=aid, runtime_id="rt", card=card)
    assert await until(lambda: all(n.get(a) for n in nodes.values()
                                   for a in ("good", "altered", "plain")), 5.0)

    def verdicts(n: GossipNode) -> dict[str, str]:
        return {a: n.get(a).record.card_verified  # type: ignore[union-attr]
                for a in ("good", "altered", "plain")}

    assert verdicts(nodes["trusting"]) == {"good": "true", "altered": "false",
                                           "plain": "unsigned"}
    assert verdicts(nodes["owner"]) == {"good": "false", "altered": "false",
                                        "plain": "unsigned"}  # it has no publisher keys
    assert verdicts(nodes["other"]) == {"good": "false", "altered": "false",
                                        "plain": "unsigned"}  # its keys lack acme-1
    trusting = nodes["trusting"]
    assert [v.agent_id for v in trusting.find("summar", status=None, verified_only=True)] == [
        "good"]
    assert [h.agent.agent_id for h in trusting.search("summarize", verified_only=True)] == [
        "good"]
    assert trusting.find("summar", status=None, verified_only=True, limit=1, offset=1) == []
    async with aiohttp.ClientSession() as http:
        base = f"http://{trusting.address}"
        async with http.get(f"{base}/v1/agents", params={"verified_only": "true"}) as r:
            assert [a["agent_id"] for a in await r.json()] == ["good"]
        async with http.get(f"{base}/v1/agents/altered") as r:
            assert (await r.json())["card_verified"] == "false"
        async with http.post(f"{base}/ard/v1/search", json={
                "query": {"text": "summarize", "filter": {"cardVerified": "true"}}}) as r:
            results = (await r.json())["results"]
        assert [e["metadata"]["agentId"] for e in results] == ["good"]
        [entry] = results
        assert entry["metadata"]["cardVerified"] == "true"
        tm = entry["trustManifest"]
        assert tm["identity"] == "did:web:acme.example"
        assert tm["attestations"][0]["uri"].startswith("data:application/jose,")
        async with http.get(f"{base}/ard/v1/agents", params={
                "filter": json.dumps({"cardVerified": "unsigned", "status": "active"})}) as r:
            listed = (await r.json())["items"]
    assert [e["metadata"]["agentId"] for e in listed] == ["plain"]
    assert "trustManifest" not in listed[0]
    # Selecting an agent to send to: only the verified one, from Python, HTTP and the CLI.
    assert {c.agent_id for c in trusting.select(capability="summar", k=3)} == {
        "good", "altered", "plain"}
    assert [c.agent_id for c in trusting.select(capability="summar", k=3,
                                                verified_only=True)] == ["good"]
    async with aiohttp.ClientSession() as http, http.post(
            f"http://{trusting.address}/v1/select",
            json={"text": "summarize", "k": 3, "verified_only": True}) as r:
        assert r.status == 200
        assert [c["agent_id"] for c in (await r.json())["candidates"]] == ["good"]
    for argv in (["select", "summarize", "-k", "3", "--verified-only"],
                 ["agents", "--verified-only"], ["search", "summarize", "--verified-only"]):
        out = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "gossipreg", *argv, "--node", trusting.address, "--json"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (argv, out.stderr)
        assert "good" in out.stdout and '"altered"' not in out.stdout \
            and '"plain"' not in out.stdout, (argv, out.stdout)
