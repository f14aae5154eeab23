"""Request bodies of plain values (words, numbers, lists of words) are checked without building
their model's validator (core/plain.py): whenever that path takes a body it makes exactly what
pydantic makes of it, and whatever it declines, every refusal included, pydantic checks with
its messages as before. A registration as the harness and most runtimes send it takes it."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.plain import plain_model
from gossipreg.io.api import admin, ard_models, batch, models
from gossipreg.io.api.params import parse_body

BODIES: list[type[BaseModel]] = sorted(
    {m for mod in (models, ard_models, batch, admin) for m in vars(mod).values()
     if isinstance(m, type) and issubclass(m, models._Body) and m is not models._Body},
    key=lambda m: m.__name__)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
    | st.text(max_size=6) | st.sampled_from(["", "a1", "python", "active", "http://x", "5"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6)
word_lists = st.lists(st.text(max_size=5), max_size=3)


def _own(annotation: Any) -> st.SearchStrategy[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return st.one_of(*(_own(a) for a in get_args(annotation)))
    if get_origin(annotation) is Literal:
        return st.sampled_from(get_args(annotation))
    if get_origin(annotation) is list:
        return st.lists(_own(get_args(annotation)[0]), max_size=3)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(), str: st.text(max_size=6), bool: st.booleans(),
        int: st.integers(-5, 2_000), float: st.floats(-1, 100_000)}
    return simple.get(annotation, json_values)


def _of_type(annotation: Any) -> st.SearchStrategy[Any]:
    """Mostly values of the field's own type, now and then any JSON value."""
    own = _own(annotation)
    return st.one_of(own, own, own, json_values)


def bodies(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    fields = model.model_fields
    keys = st.sampled_from([*fields, "bogus"])
    typed_body = st.fixed_dictionaries(
        {k: _of_type(f.annotation) for k, f in fields.items() if f.is_required()},
        optional={k: _of_type(f.annotation) for k, f in fields.items() if not f.is_required()})
    return st.one_of(typed_body, typed_body, st.dictionaries(keys, json_values | word_lists,
                                                             max_size=5))


def typed(values: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    return {k: (type(v), v) for k, v in values.items()}


@pytest.mark.parametrize("model", BODIES, ids=lambda m: m.__name__)
def test_the_plain_path_agrees_with_pydantic(model: type[BaseModel]) -> None:
    @settings(max_examples=500, deadline=None)
    @given(bodies(model))
    @example({"agent_id": "a", "name": "n", "runtime_id": "r", "capabilities": ["x", "y"]})
    @example({"agent_id": "a", "capabilities": ["x", 1]})
    @example({"agent_id": "a", "tags": ("x",)})
    def agrees(data: dict[str, Any]) -> None:
        try:
            want: dict[str, Any] | None = model.model_validate(data).__dict__
        except ValidationError:
            want = None
        made = plain_model(model, data)
        if made is not None:
            assert want is not None and typed(made.__dict__) == typed(want), data
            assert made.model_fields_set == set(data)

    agrees()


def test_a_registration_takes_the_plain_path_and_refusals_keep_their_words() -> None:
    body = {"agent_id": "k1", "name": "k1", "runtime_id": "bench", "capabilities": ["benchmark"]}
    assert plain_model(models.AgentIn, body) is not None
    got = parse_body(b'{"agent_id": "k1", "tags": ["a"], "description": "d"}', models.AgentIn)
    assert got == models.AgentIn.model_validate({"agent_id": "k1", "tags": ["a"],
                                                 "description": "d"})
    for raw, says in ((b'{"agent_id": 5}', "agent_id must be a string, not int"),
                      (b'{"name": "x"}', "agent_id is required"),
                      (b'{"agent_id": "a", "tags": ["a", 2]}',
                       "tags item must be a string, not int"),
                      (b'{"agent_id": "a", "nope": 1}', "unknown fields: ['nope']")):
        with pytest.raises(InvalidArgumentError) as refused:
            parse_body(raw, models.AgentIn)
        assert str(refused.value).startswith(says), str(refused.value)
