"""Bodies and parameters defined once (gossipreg/io/api/models.py): unknown fields and
parameters are refused on every route, refusals name the field in the words Python reads, the
OpenAPI document is derived from the same models, and unknown paths answer the envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from gossipreg import GossipNode, InvalidArgumentError, NodeConfig
from gossipreg.core.directory.records import make_record
from gossipreg.io.api import ard_models, models
from gossipreg.io.api.openapi import ROUTES
from gossipreg.io.checks import parse_check

pytestmark = pytest.mark.network


@pytest.fixture
async def node() -> AsyncIterator[GossipNode]:
    n = await GossipNode("m", config=NodeConfig.local(heartbeat_timeout=None)).start()
    await n.register(agent_id="a1", name="A", runtime_id="rt", capabilities=["x"])
    yield n
    await n.shutdown()


async def call(node: GossipNode, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(
            method, f"http://{node.address}{path}", json=body) as r:
        return r.status, await r.json()


async def test_unknown_fields_and_parameters_are_refused(node: GossipNode) -> None:
    status, body = await call(node, "PUT", "/v1/agents/a1/status",
                              {"status": "degraded", "bogus": 1})
    assert status == 400 and body["error"].startswith("unknown fields: ['bogus']")
    assert node.get("a1").status.value == "active"  # type: ignore[union-attr]
    for path in ("/v1/agents?bogus=1", "/v1/agents/a1?x=1", "/v1/members?statee=alive",
                 "/v1/health?verbose=1", "/metrics?x=1", "/v1/agents/a1/card?x=1"):
        status, body = await call(node, "GET", path)
        assert status == 400 and "unknown parameters" in body["error"], (path, body)
        assert body["code"] == "invalid_argument"
    status, body = await call(node, "GET", "/v1/agents?bogus=1")
    assert ("(known: capability, index, limit, node, offset, runtime, status, tag, "
            "verified_only, wait)") in body["error"]
    status, body = await call(node, "POST", "/ard/v1/search?x=1", {"query": {"text": "x"}})
    assert status == 400 and body["errorCode"] == "INVALID_ARGUMENT"
    status, body = await call(node, "POST", "/ard/v1/search",
                              {"query": {"text": "x", "filtr": {}}})
    assert status == 400 and "unknown query fields: ['filtr']" in body["message"]


async def test_wait_is_a_duration_on_one_line(node: GossipNode) -> None:
    # The pattern is checked by Python's re (models.py): its "$" would let a trailing newline
    # through, which pydantic's Rust engine refused; the refusal stays.
    said = "wait must be a duration like 30s or 500ms, at most 600s"
    for wait in ("1s%0A", "%0A", "1x", "%201s"):
        status, body = await call(node, "GET", f"/v1/members?index=0&wait={wait}")
        assert (status, body["error"]) == (400, said), wait
    status, _ = await call(node, "GET", "/v1/members?index=0&wait=10ms")
    assert status == 200


@pytest.mark.parametrize(("body", "python"), [
    ({"agent_id": "a", "name": 5}, lambda: make_record("a", 5, "rt")),  # type: ignore[arg-type]
    ({"agent_id": "a", "capabilities": "x"}, lambda: make_record("a", "A", "rt", "x")),
    ({"agent_id": "a", "tags": [1]}, lambda: make_record("a", "A", "rt", [], tags=[1])),
    ({"agent_id": 5}, lambda: make_record(5, "A", "rt", []),),  # type: ignore[arg-type]
    ({"agent_id": "a", "check": {"ttl": 0}}, lambda: parse_check({"ttl": 0})),
    ({"agent_id": "a", "check": {"ttl": True}}, lambda: parse_check({"ttl": True})),
    ({"agent_id": "a", "check": "x"}, lambda: parse_check("x")),
    ({"agent_id": "a", "check": {"http": 5}}, lambda: parse_check({"http": 5})),
    ({"agent_id": "a", "check": {"ttl": 1, "every": 2}},
     lambda: parse_check({"ttl": 1, "every": 2})),
])
async def test_refusals_read_as_in_python(node: GossipNode, body: dict[str, Any],
                                          python: Any) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        python()
    status, answer = await call(node, "POST", "/v1/agents", body)
    assert status == 400 and answer["error"].startswith(str(err.value)), answer


async def test_field_naming_refusals(node: GossipNode) -> None:
    for body, message in (
            ({}, "agent_id is required"),
            ({"status": "bogus"}, None),
            ({"status": 3}, None)):
        path = "/v1/agents" if "status" not in body else "/v1/agents/a1/status"
        status, answer = await call(node, "PUT" if "status" in body else "POST", path, body)
        assert status == 400
        if message:
            assert answer["error"] == message
        else:
            assert answer["error"].startswith("unknown status ")
            assert answer["error"].endswith("use one of active, degraded, unhealthy, offline")


async def test_unknown_paths_answer_the_envelope(node: GossipNode) -> None:
    for method, path in (("GET", "/nope"), ("GET", "/ard/v1/nope"), ("POST", "/x/y")):
        async with aiohttp.ClientSession() as s, s.request(
                method, f"http://{node.address}{path}") as r:
            assert r.status == 404 and r.content_type == "application/json"
            assert await r.json() == {"error": f"no such route: {path}", "code": "not_found",
                                      "status": 404}


async def test_ids_with_a_slash_are_one_path_segment(node: GossipNode) -> None:
    await node.register(agent_id="team/a b", name="T", runtime_id="rt", capabilities=["x"])
    status, body = await call(node, "GET", "/v1/agents/team%2Fa%20b")
    assert status == 200 and body["agent_id"] == "team/a b"


async def test_the_openapi_document_is_derived_from_the_models(node: GossipNode) -> None:
    status, doc = await call(node, "GET", "/v1/openapi.json")
    assert status == 200
    schemas = doc["components"]["schemas"]
    for model in (models.AgentIn, models.StatusIn, models.CheckIn, ard_models.ArdSearchIn):
        s = schemas[model.__name__]
        assert s["additionalProperties"] is False
        assert set(s["properties"]) == set(model.model_fields)
    paths = doc["paths"]
    for (path, method), op in ROUTES.items():
        got = {p["name"] for p in paths[path][method].get("parameters", [])}
        assert got == set(op.params.model_fields), (path, method)
        if op.body is not None:
            ref = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
            assert ref == {"$ref": f"#/components/schemas/{op.body.__name__}"}


def test_a_request_without_parameters_gets_what_validating_none_gives() -> None:
    # query_of skips validation (and building the model) when there is no parameter at all:
    # right only while no parameter validates its default. Every parameter set, checked.
    from gossipreg.io.api import route_models
    from gossipreg.io.api.params import query_of

    sets = [m for mod in (models, ard_models, route_models) for m in vars(mod).values()
            if isinstance(m, type) and issubclass(m, models._Params) and m is not models._Params]
    assert {"NoParams", "AgentsParams", "MembersParams", "EventsParams",
            "ArdAgentsParams"} <= {m.__name__ for m in sets}
    for model in sets:
        assert not any(f.validate_default for f in model.model_fields.values()), model
        request = make_mocked_request("GET", "/x")
        got = query_of(request, model)
        assert type(got) is model and got == model.model_validate({}), model
        assert got.model_fields_set == set()
