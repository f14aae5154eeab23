"""Agent cards in every form: a2a-sdk objects, A2A 0.3 / 1.0 JSON, kaizen dicts and objects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import pytest

from gossipreg.core.directory.cards import (
    CARD_MAX_BYTES,
    CardTooLargeError,
    card_to_dict,
    parse_card,
)
from gossipreg.core.directory.records import make_record, record_from_value, record_to_value
from gossipreg.core.errors import InvalidArgumentError
from gossipreg.registry import AgentRegistry
from tests.support import need_a2a_module

a2a_types = need_a2a_module("a2a.types")
json_format = need_a2a_module("google.protobuf.json_format")


def sdk_card(name: str = "FX desk") -> Any:
    t = a2a_types
    return t.AgentCard(
        name=name, description="Foreign exchange quotes", version="2.1.0",
        provider=t.AgentProvider(organization="Acme Bank", url="https://acme.example"),
        supported_interfaces=[
            t.AgentInterface(url="http://127.0.0.1:9/a2a", protocol_binding="JSONRPC",
                             protocol_version="1.0"),
            t.AgentInterface(url="http://127.0.0.1:9/grpc", protocol_binding="GRPC",
                             protocol_version="1.0")],
        capabilities=t.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[t.AgentSkill(id="fx-convert", name="Currency conversion",
                             description="Convert an amount between currencies",
                             tags=["finance", "fx"],
                             examples=["convert 100 dollars to yen", "eur to chf rate"])])


CARD_03 = {
    "name": "Summarizer", "description": "Summarizes documents", "version": "0.3.1",
    "url": "http://127.0.0.1:9/rpc", "preferredTransport": "JSONRPC", "protocolVersion": "0.3.0",
    "additionalInterfaces": [{"url": "http://127.0.0.1:9/rest", "transport": "HTTP+JSON"}],
    "capabilities": {"streaming": False}, "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "summarize", "name": "Summarize", "description": "Short summaries",
                "tags": ["text"], "examples": ["summarize this contract"]}],
}


def test_sdk_object_and_its_json_give_the_same_record() -> None:
    card = sdk_card()
    as_dict = json_format.MessageToDict(card)
    r1 = make_record("fx", None, "rt", card=card)
    r2 = make_record("fx", None, "rt", card=as_dict)
    assert r1 == r2
    assert r1.card == as_dict  # verbatim
    assert r1.name == "FX desk" and r1.description == "Foreign exchange quotes"
    assert r1.version == "2.1.0" and r1.provider == ("Acme Bank", "https://acme.example")
    assert [tuple(e) for e in r1.endpoints] == [
        ("http://127.0.0.1:9/a2a", "JSONRPC", "1.0"), ("http://127.0.0.1:9/grpc", "GRPC", "1.0")]
    (skill,) = r1.skills
    assert skill.id == "fx-convert" and skill.examples == ("convert 100 dollars to yen",
                                                           "eur to chf rate")
    assert r1.tags == ("finance", "fx")  # skill tags are tags
    assert "Currency conversion" in r1.capabilities


def test_pydantic_card_is_dumped_by_alias() -> None:
    from pydantic import BaseModel, Field

    class Card(BaseModel):
        name: str
        default_input_modes: list[str] = Field(alias="defaultInputModes")
        skills: list[dict[str, Any]]
        url: str | None = None

    c = Card(name="P", defaultInputModes=["text/plain"],
             skills=[{"id": "s", "name": "S", "tags": ["t"]}])
    d = card_to_dict(c)
    assert d == {"name": "P", "defaultInputModes": ["text/plain"],
                 "skills": [{"id": "s", "name": "S", "tags": ["t"]}]}
    assert parse_card(d).kind == "a2a"


def test_a2a_03_shape_gives_endpoints() -> None:
    r = make_record("s", None, "rt", card=CARD_03)
    assert [tuple(e) for e in r.endpoints] == [
        ("http://127.0.0.1:9/rpc", "JSONRPC", "0.3.0"),
        ("http://127.0.0.1:9/rest", "HTTP+JSON", "0.3.0")]
    assert r.tags == ("text",) and r.version == "0.3.1"


def test_kaizen_dict_only_when_not_a2a() -> None:
    k = parse_card({"name": "K", "capability": "code", "capabilities": ["a", "b"]})
    assert k.kind == "kaizen" and k.capabilities == ("code", "a", "b")
    # An A2A card's capabilities object is not kaizen's capability list.
    assert parse_card({"name": "A", "capabilities": {"streaming": True}}).kind == "a2a"
    r = make_record("k", "K", "rt", card={"name": "K", "capability": "code"})
    assert r.capabilities == ("code",) and r.skills == ()


def test_kaizen_card_object_duck_typed() -> None:
    @dataclass
    class Capability:
        name: str
        level: str = "expert"

    @dataclass
    class KaizenCard:  # the shape of kaizen's A2AAgentCard
        agent_id: str
        agent_name: str
        primary_capabilities: list[Capability] = field(default_factory=list)
        description: str = ""

    c = KaizenCard("k1", "Researcher", [Capability("information_retrieval")], "finds facts")
    r = make_record("k1", None, "rt", card=c)
    assert r.name == "Researcher" and r.capabilities == ("information_retrieval",)
    assert r.description == "finds facts"

    class WithToDict:
        def to_dict(self) -> dict[str, Any]:
            return {"name": "T", "capability": "translate"}

    assert make_record("t", None, "rt", card=WithToDict()).capabilities == ("translate",)


def test_unknown_object_is_a_typed_error() -> None:
    class Opaque:
        def __init__(self) -> None:
            self.secret = 1

    with pytest.raises(InvalidArgumentError, match="card must be a dict"):
        make_record("x", "x", "rt", card=Opaque())


def test_malformed_card_names_the_field() -> None:
    bad = dict(CARD_03, skills=[{"id": "s", "tags": "notalist"}])
    with pytest.raises(InvalidArgumentError, match=r"card\.skills\[0\]\.tags"):
        make_record("x", "x", "rt", card=bad)
    with pytest.raises(InvalidArgumentError, match=r"card\.supportedInterfaces"):
        make_record("x", "x", "rt", card={"name": "n", "supportedInterfaces": "http://x"})


def test_card_over_the_limit_names_the_limit() -> None:
    big = dict(CARD_03, description="x" * CARD_MAX_BYTES)
    with pytest.raises(CardTooLargeError, match=str(CARD_MAX_BYTES)):
        make_record("x", "x", "rt", card=big)


def test_wire_round_trip_and_hostile_cards() -> None:
    r = make_record("fx", None, "rt", card=sdk_card())
    assert record_from_value(record_to_value(r)) == r
    wire = record_to_value(r)
    for hostile in ("{not json", "[1, 2]", "[" * 4000 + "]" * 4000, '{"a": NaN}',
                    json.dumps({"skills": [{"tags": [1]}]}), "x" * (CARD_MAX_BYTES + 1), 7):
        v = list(wire)
        v[6] = hostile
        with pytest.raises(InvalidArgumentError):
            record_from_value(v)


async def test_registry_reads_every_card_form() -> None:
    reg = AgentRegistry()
    await reg.start()
    try:
        await reg.register_agent(SimpleNamespace(agent_card=sdk_card()), "rt", agent_id="sdk")
        await reg.register_agent(SimpleNamespace(), "rt", agent_id="j03", card=CARD_03)
        m = await reg.get_agent("sdk")
        assert m is not None and m.name == "FX desk" and m.description.startswith("Foreign")
        assert m.a2a_card is not None and m.a2a_card["skills"][0]["id"] == "fx-convert"
        assert [x.agent_id for x in await reg.find_agents_by_capability("currency")] == ["sdk"]
        assert [x.agent_id for x in await reg.find_agents(tags=["finance"])] == ["sdk"]
        # a Mock agent's made-up card attributes are ignored, as kaizen ignores them
        mock = Mock()
        mock.agent_id = "m"
        mock._a2a_card = {"name": "m", "capability": "mocking"}
        await reg.register_agent(mock, "rt")
        assert [x.agent_id for x in await reg.find_agents_by_capability("mock")] == ["m"]
        with pytest.raises(ValueError, match="card must be a dict"):
            await reg.register_agent(SimpleNamespace(agent_card=object()), "rt", agent_id="o")
    finally:
        await reg.shutdown()
