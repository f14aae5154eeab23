"""NodeConfig's plain path (core/plain.py) decides only what pydantic would decide the
same way: whenever it takes an input, the values, their types and the fields set are pydantic's;
whatever it declines, errors included, pydantic checks as before. And it does take what the
presets, Python callers, flags and the environment give, so a node never builds the
validator."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gossipreg import ConfigError, NodeConfig
from gossipreg.core.config import describe_errors
from gossipreg.core.plain import plain_fields

KNOBS = list(NodeConfig.model_fields)


class ByPydantic(NodeConfig):
    """The same model, every input through pydantic's own validator."""

    def __init__(self, **data: Any) -> None:
        BaseModel.__init__(self, **data)


def by_pydantic(data: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return dict(ByPydantic(**data).__dict__)
    except ValidationError as e:
        return describe_errors(e)


def typed(values: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    return {k: (type(v), v) for k, v in values.items()}


numbers = st.one_of(
    st.integers(-2**60, 2**60), st.integers(0, 70_000), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 100_000),
    st.from_regex(r"\A[ +-]?[0-9_]{0,6}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?\s?\Z"),
    st.sampled_from(["1", "0.5", "7", "3600", "1e3", "5.", "007", "1_0", " 2", "inf", "nan",
                     "٣", "0x10", "2e", "-1", "+1"]))
words = st.one_of(
    st.none(), st.text(max_size=8),
    st.sampled_from(["off", "OFF", "none", "auto", "", "true", "yes", "1", "local",
                     "ollama:m@http://h", "openai:", "x" * 300, "gossipreg"]),
    st.binary(max_size=4))
mixed = st.dictionaries(st.sampled_from([*KNOBS, "no_such_knob"]), st.one_of(numbers, words),
                        max_size=4)
# Mostly what the plain path takes: numbers in range, as Python values or as text.
plausible = st.dictionaries(st.sampled_from(KNOBS), st.one_of(
    st.integers(0, 70_000), st.floats(0, 100_000), st.integers(0, 70_000).map(str),
    st.floats(0, 100_000).map(repr), st.floats(0, 100_000).map(lambda x: f"{x:e}")),
    max_size=6)
inputs = st.one_of(mixed, plausible)


@settings(max_examples=800, deadline=None)
@given(inputs)
@example({"probe_interval": "0.5", "probe_timeout": "0.25"})
@example({"probe_timeout": 5})  # decided field by field, then refused by the model check
@example({"heartbeat_timeout": 900})
@example({"gossip_fanout": True, "heartbeat_timeout": "off", "require_signatures": "auto"})
def test_the_plain_path_agrees_with_pydantic(data: dict[str, Any]) -> None:
    want = by_pydantic(data)
    plain = plain_fields(NodeConfig, data)
    if plain is not None:  # every field it took is exactly what pydantic makes of it
        assert not isinstance(want, str) or "must" in want, (data, want)
        if not isinstance(want, str):
            assert typed(plain) == typed({k: want[k] for k in plain})
    try:
        got: dict[str, Any] | str = dict(NodeConfig(**data).__dict__)
    except ConfigError as e:
        got = str(e)
    if isinstance(want, str):
        assert got == want
    else:
        assert isinstance(got, dict) and typed(got) == typed(want)
        assert NodeConfig(**data).model_fields_set == set(data)


@pytest.mark.parametrize("data", [
    {}, NodeConfig.local().model_dump(), NodeConfig.wan().model_dump(),
    # What flags and the environment give: text.
    {"probe_interval": "2", "probe_timeout": "0.5", "gossip_fanout": "5", "embedder": "off",
     "heartbeat_timeout": "off", "require_signatures": "auto", "data_dir": "/var/lib/g",
     "beacon_min_miss": "2e-4", "cluster": "prod"},
    {"heartbeat_timeout": None, "require_signatures": True, "embedder": None},
])
def test_what_nodes_are_made_of_takes_the_plain_path(data: dict[str, Any]) -> None:
    plain = plain_fields(NodeConfig, data)
    assert plain is not None
    assert typed(plain) == typed({k: getattr(ByPydantic(**data), k) for k in data})


def test_a_node_started_from_the_command_line_builds_no_validator() -> None:
    code = (
        "import sys\n"
        "from gossipreg.cli.app import _parser\n"
        "from gossipreg.core.config import NodeConfig\n"
        "from gossipreg.io.settings import resolve_settings\n"
        "args = _parser().parse_args(['node', '--name', 'a', '--profile', 'lan', '--embedder',"
        " 'off', '--probe-interval', '2', '--heartbeat-timeout', 'off'])\n"
        "s = resolve_settings({k: v for k, v in vars(args).items()"
        " if k not in ('command', 'config')}, environ={})\n"
        "assert s.config.probe_interval == 2.0 and s.config.heartbeat_timeout is None\n"
        "print(NodeConfig.__pydantic_complete__, 'importlib.metadata' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_errors_are_pydantics_own_words() -> None:
    with pytest.raises(ConfigError) as e:
        NodeConfig(probe_interval=-1, gossip_fanout="many", no_such_knob=1)
    assert str(e.value) == (
        "probe_interval: Input should be greater than 0 (got -1); gossip_fanout: Input should "
        "be a valid integer, unable to parse string as an integer (got 'many'); no_such_knob: "
        "Extra inputs are not permitted (got 1)")
    with pytest.raises(ConfigError, match=r"^probe_timeout must be shorter than probe_interval$"):
        NodeConfig(probe_timeout=5)


def test_what_the_plain_path_cannot_run_it_leaves_to_pydantic() -> None:
    from pydantic import ConfigDict, field_validator, model_validator

    from gossipreg.core.plain import plain_model

    class Wrapped(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int = 0
        b: int = 0

        @field_validator("b", mode="wrap")
        @classmethod
        def _wrap(cls, v: Any, handler: Any) -> Any:
            return handler(v) + 1

    assert plain_fields(Wrapped, {"a": 1}) == {"a": 1}
    assert plain_fields(Wrapped, {"b": 1}) is None  # a wrap validator: pydantic runs it

    class Ignoring(BaseModel):
        model_config = ConfigDict(extra="ignore")
        a: int = 0

    assert plain_fields(Ignoring, {"a": 1}) is None  # a setting not modelled here

    class Swapping(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int = 0

        @model_validator(mode="after")
        def _other(self) -> Swapping:
            return Swapping.model_construct(a=self.a + 1)

    assert plain_fields(Swapping, {"a": 1}) == {"a": 1}
    assert plain_model(Swapping, {"a": 1}) is None  # it would make another: pydantic's say
