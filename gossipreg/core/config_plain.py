"""Deciding a settings model's plain inputs without building its pydantic validator.

Building a model's validator costs an idle node ~1.6 MB of RSS: the core schema and, at the
first build in a process, pydantic's plugin lookup, which imports ``importlib.metadata`` and
reads every installed distribution's entry points (docs/measured.md, "Memory per node").
A node's :class:`~gossipreg.core.config.NodeConfig` is made of a few numbers and words, so
it is checked here when every input is one this module decides with certainty: a value of
the field's own type (or ASCII digits for a number, as flags and the environment give them),
within the field's bounds, passing the model's own validators. Anything else, every error
included, is left to pydantic, which builds the validator then and answers in its own words;
a property test checks that both give the same result whenever this module decides.
"""

from __future__ import annotations

import inspect
import math
import re
import types
from dataclasses import dataclass
from typing import Any, cast

import annotated_types as at
from pydantic import BaseModel

__all__ = ["plain_fields", "plain_model_checks"]

_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: int("٣") is 3, pydantic refuses it
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{0,15})?(?:[eE][+-]?[0-9]{1,3})?")
_EXACT = 2**53  # ints a float holds exactly: no rounding to disagree about
_UNDECIDED = object()
_KINDS: tuple[type, ...] = (int, float, str, bool)
# Settings that change what a field accepts are not modelled here: with any of them set
# beyond these, every input goes to pydantic.
_CONFIG_KEYS = frozenset({"frozen", "extra", "defer_build"})


@dataclass(frozen=True)
class _Field:
    kind: type            # int, float, str or bool
    optional: bool        # ``kind | None``
    bounds: tuple[Any, ...]
    before: Any           # the field's "before" validator (a bound classmethod) or None
    after: Any            # its "after" validator, or None


@dataclass(frozen=True)
class _Plan:
    fields: dict[str, _Field]
    required: frozenset[str]
    model_after: tuple[str, ...]  # names of the model's "after" validators


_plans: dict[type[BaseModel], _Plan | None] = {}


def _one_argument(fn: Any) -> bool:
    try:
        return len(inspect.signature(fn).parameters) == 1
    except (TypeError, ValueError):
        return False


def _plan(cls: type[BaseModel]) -> _Plan | None:
    """What this module needs to know of ``cls``, or None when some field, validator or
    setting is beyond it (then pydantic checks every input)."""
    config = cls.model_config
    if set(config) - _CONFIG_KEYS or config.get("extra") != "forbid":
        return None
    decorators = cls.__pydantic_decorators__
    if (decorators.validators or decorators.root_validators or decorators.field_serializers
            or decorators.model_serializers or decorators.computed_fields):
        return None
    by_field: dict[tuple[str, str], Any] = {}
    for name, d in decorators.field_validators.items():
        fn = getattr(cls, name)
        if d.info.mode not in ("before", "after") or not _one_argument(fn):
            return None
        for f in d.info.fields:
            if (f, d.info.mode) in by_field:  # two of a kind on one field: their order matters
                return None
            by_field[(f, d.info.mode)] = fn
    model_after = []
    for name, m in decorators.model_validators.items():
        if m.info.mode != "after":
            return None
        model_after.append(name)
    fields: dict[str, _Field] = {}
    for name, info in cls.model_fields.items():
        ann, optional = info.annotation, False
        if isinstance(ann, types.UnionType) and len(ann.__args__) == 2 \
                and type(None) in ann.__args__:
            ann, optional = next(a for a in ann.__args__ if a is not type(None)), True
        if ann not in _KINDS or info.alias or info.validation_alias \
                or info.default_factory is not None or info.validate_default:
            return None
        if not all(isinstance(m, at.Gt | at.Ge | at.Lt | at.Le | at.MinLen | at.MaxLen)
                   for m in info.metadata):
            return None
        fields[name] = _Field(cast(type, ann), optional, tuple(info.metadata),
                              by_field.pop((name, "before"), None),
                              by_field.pop((name, "after"), None))
    if by_field:  # a validator of a field the model does not have
        return None
    required = frozenset(n for n, i in cls.model_fields.items() if i.is_required())
    return _Plan(fields, required, tuple(model_after))


def _scalar(value: Any, kind: type) -> Any:
    """``value`` as pydantic's lax mode makes it a ``kind``, or _UNDECIDED."""
    t = type(value)
    if kind is str or kind is bool:
        return value if t is kind else _UNDECIDED
    if kind is int:
        if t is int:
            return value
        return int(value) if t is str and _DIGITS.fullmatch(value) else _UNDECIDED
    # float
    if t is float:
        return value if math.isfinite(value) else _UNDECIDED
    if t is int:
        return float(value) if -_EXACT <= value <= _EXACT else _UNDECIDED
    if t is str and _DECIMAL.fullmatch(value):
        got = float(value)
        return got if math.isfinite(got) else _UNDECIDED
    return _UNDECIDED


def _within(value: Any, bounds: tuple[Any, ...]) -> bool:
    for b in bounds:
        if isinstance(b, at.Gt):
            ok = value > b.gt
        elif isinstance(b, at.Ge):
            ok = value >= b.ge
        elif isinstance(b, at.Lt):
            ok = value < b.lt
        elif isinstance(b, at.Le):
            ok = value <= b.le
        elif isinstance(b, at.MinLen):
            ok = len(value) >= b.min_length
        else:
            ok = len(value) <= b.max_length
        if not ok:
            return False
    return True


def _field(spec: _Field, value: Any) -> Any:
    try:
        if spec.before is not None:
            value = spec.before(value)
        if value is None:  # pydantic runs an "after" validator on a None too
            if not spec.optional:
                return _UNDECIDED
            return spec.after(None) if spec.after is not None else None
        got = _scalar(value, spec.kind)
        if got is _UNDECIDED or not _within(got, spec.bounds):
            return _UNDECIDED
        return spec.after(got) if spec.after is not None else got
    except (ValueError, AssertionError):  # what pydantic turns into an error: it reports it
        return _UNDECIDED


def plain_fields(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` checked and converted as ``cls``'s pydantic validator would, field by field
    (the model's own "after" validators are :func:`plain_model_checks`), or None when any
    input is one this module does not decide."""
    if cls not in _plans:
        _plans[cls] = _plan(cls)
    plan = _plans[cls]
    if plan is None or not plan.required <= data.keys():
        return None
    out: dict[str, Any] = {}
    for name, value in data.items():
        spec = plan.fields.get(name)
        got = _UNDECIDED if spec is None else _field(spec, value)
        if got is _UNDECIDED:
            return None
        out[name] = got
    return out


def plain_model_checks(model: BaseModel) -> bool:
    """Whether ``model``'s own "after" validators all pass (False: let pydantic report)."""
    plan = _plans.get(type(model))
    if plan is None:
        return False
    try:
        for name in plan.model_after:
            getattr(model, name)()
    except (ValueError, AssertionError):
        return False
    return True
