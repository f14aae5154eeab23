"""A2A cards on a 2-node mesh (127.0.0.1, port 0): registered on one node via Python and HTTP,
found on the other by skill tag, skill id and example words, resolved there with the SDK's
A2ACardResolver; ARD's manifest and registry API on the node that did not register them; bad
input from callers and hostile cards from the network. Bounded waits."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from gossipreg import AgentRegistry, GossipNode, NodeConfig
from gossipreg.core.directory.cards import CARD_MAX_BYTES
from gossipreg.core.directory.records import RECORD_VALUES, make_record, record_to_value
from gossipreg.core.types import MemberState
from gossipreg.core.wire.codec import Codec
from gossipreg.core.wire.fields import Write
from gossipreg.core.wire.messages import write_wire
from tests.support import need_a2a_module, until

pytestmark = pytest.mark.network
httpx = need_a2a_module("httpx")
a2a_client = need_a2a_module("a2a.client")
card_resolver = need_a2a_module("a2a.client.card_resolver")
json_format = need_a2a_module("google.protobuf.json_format")
response_helpers = need_a2a_module("a2a.server.request_handlers.response_helpers")
agent_card_to_dict = response_helpers.agent_card_to_dict

from tests.core.directory.test_cards import CARD_03, sdk_card  # noqa: E402

URN = re.compile(r"^urn:air:([a-zA-Z0-9.-]+)(?::([a-zA-Z0-9._:-]+))?:([a-zA-Z0-9._-]+)$")
KAIZEN = {"name": "CodeAgent", "capability": "Code generation and software development",
          "description": "Generate Python code"}



@pytest.fixture
async def pair() -> AsyncIterator[tuple[GossipNode, GossipNode]]:
    cfg = NodeConfig.local(heartbeat_timeout=None)
    a = GossipNode("a", config=cfg)
    await a.start()
    b = GossipNode("b", config=cfg, seeds=[a.address])
    await b.start()
    assert await until(lambda: all(
        sum(m.state is MemberState.ALIVE for m in x.members()) == 2 for x in (a, b)))
    yield a, b
    await b.shutdown()
    await a.shutdown()


async def resolve(node: GossipNode, agent_id: str) -> Any:
    async with httpx.AsyncClient() as client:
        resolver = a2a_client.A2ACardResolver(client, f"http://{node.address}")
        return await resolver.get_agent_card(relative_card_path=f"/v1/agents/{agent_id}/card")


async def registered(a: GossipNode, b: GossipNode) -> AgentRegistry:
    reg = AgentRegistry(node=a)
    await reg.start()
    card = sdk_card()
    await reg.register_agent(SimpleNamespace(agent_card=card), "rt-a", agent_id="fx")
    await reg.register_agent(SimpleNamespace(_a2a_card=KAIZEN), "rt-a", agent_id="coder")
    async with aiohttp.ClientSession() as s:
        for body in ({"agent_id": "summarizer 03", "card": CARD_03},
                     # the SDK's own JSON of its card (A2A 1.0 shape, capabilities an object)
                     {"agent_id": "fx-json", "card": agent_card_to_dict(sdk_card("FX json"))}):
            async with s.post(f"http://{a.address}/v1/agents", json=body) as r:
                assert r.status == 201, await r.text()
    assert await until(lambda: all(b.get(i) for i in ("fx", "coder", "summarizer 03",
                                                      "fx-json")))
    # With an embedder, rankings are settled once every record has its vectors: until then
    # two cards with the same skills may swap places (one searchable by meaning first).
    assert await until(lambda: vectors_settled(b, 4), 20)
    return reg


def vectors_settled(node: GossipNode, agents: int) -> bool:
    status = node.searching.status()
    return (node.searching.embedder is None
            or (status["mode"] == "hybrid" and status["pending"] == 0
                and status["agents_with_vectors"] == agents))


async def test_cards_found_and_resolved_from_the_peer(pair: tuple[GossipNode, GossipNode]
                                                      ) -> None:
    a, b = pair
    await registered(a, b)
    ids = lambda hits: sorted(h.agent.agent_id for h in hits)  # noqa: E731
    assert ids(b.search("", {"tags": "finance"})) == ["fx", "fx-json"]  # skill tag as a tag
    assert ids(b.search("fx-convert")) == ["fx", "fx-json"]            # skill id
    assert ids(b.search("yen")) == ["fx", "fx-json"]                   # a skill example's word
    assert ids(b.search("", {"tags": "text"})) == ["summarizer 03"]
    assert ids(b.search("summarize")) == ["summarizer 03"]
    assert ids(b.search("contract")) == ["summarizer 03"]
    assert [m.agent_id for m in await AgentRegistry(node=b).find_agents_by_capability(
        "code generation")] == ["coder"]
    assert 0 < b.search("currency conversion")[0].score < 1

    original = sdk_card()
    got = await resolve(b, "fx")
    assert got.name == original.name
    assert list(got.skills) == list(original.skills)
    assert list(got.supported_interfaces) == list(original.supported_interfaces)
    got_json = await resolve(b, "fx-json")
    assert got_json.name == "FX json" and list(got_json.skills) == list(original.skills)
    assert list(got_json.supported_interfaces) == list(original.supported_interfaces)

    expected_03 = card_resolver.parse_agent_card(copy.deepcopy(CARD_03))
    got_03 = await resolve(b, "summarizer%2003")
    assert got_03.name == "Summarizer" and list(got_03.skills) == list(expected_03.skills)
    assert list(got_03.supported_interfaces) == list(expected_03.supported_interfaces)
    assert (await resolve(b, "coder")).name == "CodeAgent"

    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://{b.address}/v1/agents/fx") as r:
            body = await r.json()
        assert body["card"] == json_format.MessageToDict(original)
        assert body["endpoints"][0] == {"url": "http://127.0.0.1:9/a2a",
                                        "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        async with s.get(f"http://{b.address}/v1/agents?tag=finance") as r:
            assert sorted(x["agent_id"] for x in await r.json()) == ["fx", "fx-json"]
        # A skill's id is a capability string, as its name and tags are.
        async with s.get(f"http://{b.address}/v1/agents?capability=fx-convert") as r:
            assert sorted(x["agent_id"] for x in await r.json()) == ["fx", "fx-json"]


async def test_ard_on_the_node_that_did_not_register(pair: tuple[GossipNode, GossipNode]
                                                     ) -> None:
    a, b = pair
    await registered(a, b)
    base = f"http://{b.address}/ard/v1"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://{b.address}/.well-known/ard.json") as r:
            doc = await r.json()
        entries = {e["displayName"]: e for e in doc["entries"]}
        assert doc["specVersion"] == "1.0" and len(entries) == 5
        fx = entries["FX desk"]
        assert fx["identifier"] == "urn:air:acme.example:agent:fx"
        assert fx["type"] == "application/a2a-agent-card+json"
        assert 2 <= len(fx["representativeQueries"]) <= 5 and "finance" in fx["tags"]
        assert entries["Summarizer"]["identifier"] == \
            "urn:air:agent.localhost:agent-x:summarizer_2003"
        async with s.get(fx["url"]) as r:
            assert (await r.json())["name"] == "FX desk"
        async with s.get(f"http://{b.address}/.well-known/ai-catalog.json") as r:
            assert (await r.json())["entries"] == doc["entries"]

        async with s.post(f"{base}/search", json={"query": {"text": "convert currency"},
                                                  "pageSize": 1}) as r:
            res = await r.json()
        (hit,) = res["results"]
        assert URN.match(hit["identifier"]) and hit["identifier"] == fx["identifier"]
        assert isinstance(hit["score"], int) and 0 < hit["score"] <= 100
        assert hit["source"] == f"{base}/"
        async with s.get(f"{base}/agents/{hit['identifier']}") as r:
            exact = await r.json()
        assert "score" not in exact and "source" not in exact and exact == fx

        async with s.post(f"{base}/search", json={"query": {
                "text": "summaries code currency",
                "filter": {"tags": ["text", "finance"], "runtime": ["rt-a", "a"]}}}) as r:
            assert {x["displayName"] for x in (await r.json())["results"]} == \
                {"FX desk", "FX json", "Summarizer"}
        async with s.get(f"{base}/agents", params={"pageSize": "2"}) as r:
            page = await r.json()
        async with s.get(f"{base}/agents", params={"pageToken": page["pageToken"]}) as r:
            rest = await r.json()
        assert len(page["items"]) == 2 and len(rest["items"]) == 2 and "pageToken" not in rest
        async with s.post(f"{base}/explore", json={"resultType": {"facets": [
                {"field": "tags"}, {"field": "publisher"}]}}) as r:
            fac = (await r.json())["facets"]
        assert {"value": "finance", "count": 2} in fac["tags"]["buckets"]
        assert fac["publisher"]["buckets"] == [{"value": "acme.example", "count": 2},
                                               {"value": "agent.localhost", "count": 2}]

        async with s.get(f"{base}/agents/urn:air:agent.localhost:agent:nobody") as r:
            assert r.status == 404 and (await r.json())["errorCode"] == "NOT_FOUND"
        for malformed in ("fx", "urn:air:acme.example:agent", "urn:x:acme.example:agent:fx"):
            async with s.get(f"{base}/agents/{malformed}") as r:
                assert r.status == 400 and (await r.json())["errorCode"] == "INVALID_ARGUMENT"
        async with s.post(f"{base}/search", json={"query": {
                "text": "x", "filter": {"trustManifest.bogus": ["y"]}}}) as r:
            err = await r.json()
            assert r.status == 400 and err["errorCode"] == "INVALID_ARGUMENT"
            assert "trustManifest.bogus" in err["message"]
        async with s.post(f"{base}/search", json={"query": {}}) as r:
            assert r.status == 400 and (await r.json())["errorCode"] == "INVALID_ARGUMENT"


async def test_bad_cards_from_callers(pair: tuple[GossipNode, GossipNode]) -> None:
    a, _ = pair
    async with aiohttp.ClientSession() as s:
        big = dict(CARD_03, description="x" * CARD_MAX_BYTES)
        async with s.post(f"http://{a.address}/v1/agents", json={"agent_id": "big",
                                                                 "card": big}) as r:
            assert r.status == 413 and str(CARD_MAX_BYTES) in (await r.json())["error"]
        bad = dict(CARD_03, skills=[{"id": "s", "examples": "not a list"}])
        async with s.post(f"http://{a.address}/v1/agents", json={"agent_id": "bad",
                                                                 "card": bad}) as r:
            assert r.status == 400 and "card.skills[0].examples" in (await r.json())["error"]
    assert a.get("big") is None and a.get("bad") is None


async def test_hostile_cards_from_the_network_are_dropped(pair: tuple[GossipNode, GossipNode]
                                                          ) -> None:
    a, b = pair
    rec = make_record("h", "H", "rt", card=CARD_03)
    good = record_to_value(rec)
    codec = Codec("gossipreg")
    frames = []
    for i, hostile in enumerate(('{"skills": "x"}', "[" * 4000 + "]" * 4000, "{bad json",
                                 "x" * (CARD_MAX_BYTES + 10))):
        value = list(good)
        value[6] = hostile
        frames.append(codec.encode("b", b.address,
                                   [[9, "b", b.core.generation, "agent/h", 50 + i, False, value,
                                     []]]))
    before = a.core.read.replica_state()
    dropped0 = a.core.read.metrics().dropped_total
    malformed0 = a.core.read.metrics().dropped.get("malformed_message", 0)
    async with aiohttp.ClientSession() as s:
        for body in frames:
            async with s.post(f"http://{a.address}/v1/gossip", data=body) as r:
                assert r.status in (200, 204)
    assert a.core.read.metrics().dropped_total - dropped0 == len(frames)
    # Malformed: the card is checked as the write is parsed, before any signature is.
    assert a.core.read.metrics().dropped["malformed_message"] - malformed0 == len(frames)
    assert a.core.read.replica_state() == before and a.get("h") is None
    # The same write with its card intact, signed by its owner, is taken: the drops above were
    # the cards' doing.
    assert b.core.trust is not None  # a named node over HTTP signs
    w = Write("b", b.core.generation, "agent/h", 60, False, rec, ())
    signed = dataclasses.replace(w, sig=b.core.trust.sign_write(w))
    ok = codec.encode("b", b.address, [write_wire(signed, RECORD_VALUES)])
    async with aiohttp.ClientSession() as s, s.post(f"http://{a.address}/v1/gossip",
                                                    data=ok) as r:
        assert r.status in (200, 204)
    assert await until(lambda: a.get("h") is not None)
    assert a.get("h").record.skills[0].id == "summarize"  # type: ignore[union-attr]


async def test_search_from_python_and_cli(pair: tuple[GossipNode, GossipNode],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from gossipreg.cli.app import main
    from gossipreg.core.errors import InvalidArgumentError

    a, b = pair
    await registered(a, b)
    reg_b = AgentRegistry(node=b)
    (top, score), *_ = await reg_b.search("currency conversion", filters={"tags": "finance"})
    assert top.agent_id == "fx" and top.a2a_card is not None and 0 < score < 1
    assert await reg_b.search("currency", filters={"status": "offline"}) == []
    with pytest.raises(InvalidArgumentError) as py_err:
        await reg_b.search("x", filters={"bogus": "1"})
    rc = await asyncio.to_thread(main, ["search", "summarize contract", "--node", b.address])
    out = capsys.readouterr().out
    assert rc == 0 and "summarizer 03" in out and "urn:air:agent.localhost:agent-x:" in out
    rc = await asyncio.to_thread(main, ["search", "x", "--node", b.address,
                                        "--filter", "bogus=1"])
    assert rc == 2 and str(py_err.value) in capsys.readouterr().err  # the same message


async def test_ard_needs_the_token_when_one_is_set() -> None:
    node = GossipNode("t", config=NodeConfig.local(heartbeat_timeout=None), token="s3cret")
    await node.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://{node.address}/ard/v1/agents") as r:
                assert r.status == 401 and (await r.json())["errorCode"] == "UNAUTHENTICATED"
            async with s.get(f"http://{node.address}/.well-known/ard.json",
                             headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200 and (await r.json())["entries"][-1]["type"] == \
                    "application/ai-registry+json"
    finally:
        await node.shutdown()
