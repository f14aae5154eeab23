"""Deciding a pydantic model's plain inputs without building its validator.

Building a model's validator costs an idle node ~1.6 MB of RSS: the core schema and, at the
first build in a process, pydantic's plugin lookup, which imports ``importlib.metadata`` and
reads every installed distribution's entry points (docs/measured.md, "Memory per node").
A node's :class:`~gossipreg.core.config.NodeConfig`, and most requests' bodies, are a few
numbers, words and lists of words, so they are checked here when every input is one this
module decides with certainty: a value of the field's own type (or, where the model is lax,
ASCII digits for a number, as flags and the environment give them), within the field's
bounds, passing the model's own validators. Anything else, every error included, is left to
pydantic, which builds the validator then and answers in its own words; a property test checks
that both give the same result whenever this module decides.
"""

from __future__ import annotations

import inspect
import math
import re
import types
from dataclasses import dataclass
from typing import Any, TypeVar, cast, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel

__all__ = ["plain_fields", "plain_model", "plain_model_checks"]

M = TypeVar("M", bound=BaseModel)

_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: int("٣") is 3, pydantic refuses it
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{0,15})?(?:[eE][+-]?[0-9]{1,3})?")
_EXACT = 2**53  # ints a float holds exactly: no rounding to disagree about
_UNDECIDED = object()
_SCALARS: tuple[type, ...] = (int, float, str, bool)
_BOUNDS = (at.Gt, at.Ge, at.Lt, at.Le, at.MinLen, at.MaxLen)
# Settings that change what a field accepts are not modelled here: with any other set, every
# input goes to pydantic. (regex_engine and json_schema_extra concern fields this module does
# not decide, and the document.)
_CONFIG_KEYS = frozenset({"frozen", "extra", "defer_build", "strict", "regex_engine",
                          "json_schema_extra"})


@dataclass(frozen=True)
class _Field:
    kind: type | None     # int, float, str, bool or list (of str); None: pydantic decides
    optional: bool        # ``kind | None``
    strict: bool
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


def _kind(annotation: Any) -> tuple[type | None, bool]:
    """The field's kind (None: not one decided here) and whether it may be None."""
    optional = False
    if isinstance(annotation, types.UnionType) and len(annotation.__args__) == 2 \
            and type(None) in annotation.__args__:
        annotation = next(a for a in annotation.__args__ if a is not type(None))
        optional = True
    if annotation in _SCALARS:
        return cast(type, annotation), optional
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return list, optional
    return None, optional


def _validators(cls: type[BaseModel]) -> dict[tuple[str, str], Any] | None:
    """(field, "before" | "after") -> the validator; a field with one this module cannot run
    maps to None under "opaque"; None when the model has other kinds of decorator."""
    decorators = cls.__pydantic_decorators__
    if (decorators.validators or decorators.root_validators or decorators.field_serializers
            or decorators.model_serializers or decorators.computed_fields):
        return None
    out: dict[tuple[str, str], Any] = {}
    for name, d in decorators.field_validators.items():
        fn = getattr(cls, name)
        runnable = d.info.mode in ("before", "after") and _one_argument(fn)
        for f in d.info.fields:
            key = (f, d.info.mode if runnable else "opaque")
            # Two of a kind on one field: their order matters, so pydantic runs them.
            out[(f, "opaque") if key in out else key] = fn if runnable else None
    return out


def _plan(cls: type[BaseModel]) -> _Plan | None:
    """What this module needs to know of ``cls``, or None when the model is beyond it (then
    pydantic checks every input)."""
    config = cls.model_config
    if set(config) - _CONFIG_KEYS or config.get("extra") != "forbid":
        return None
    validators = _validators(cls)
    if validators is None:
        return None
    model_after = []
    for name, m in cls.__pydantic_decorators__.model_validators.items():
        if m.info.mode != "after":
            return None
        model_after.append(name)
    fields: dict[str, _Field] = {}
    for name, info in cls.model_fields.items():
        if info.alias or info.validation_alias or info.validate_default:
            return None
        kind, optional = _kind(info.annotation)
        if (name, "opaque") in validators or not all(isinstance(m, _BOUNDS)
                                                     for m in info.metadata):
            kind = None
        strict = bool(config.get("strict"))  # a field's own (pydantic.Strict) is opaque above
        fields[name] = _Field(kind, optional, strict, tuple(info.metadata),
                              validators.pop((name, "before"), None),
                              validators.pop((name, "after"), None))
    if any(f not in fields for f, _ in validators):  # a validator of no field: pydantic's say
        return None
    required = frozenset(n for n, i in cls.model_fields.items() if i.is_required())
    return _Plan(fields, required, tuple(model_after))


def _scalar(value: Any, kind: type, strict: bool) -> Any:
    """``value`` as pydantic makes it a ``kind``, or _UNDECIDED."""
    t = type(value)
    if kind is str or kind is bool:
        return value if t is kind else _UNDECIDED
    if kind is list:  # of str; pydantic's lax mode also takes tuples and sets: its say
        return list(value) if t is list and all(type(x) is str for x in value) else _UNDECIDED
    if kind is int:
        if t is int:
            return value
        return int(value) if not strict and t is str and _DIGITS.fullmatch(value) \
            else _UNDECIDED
    # float
    if t is float:
        return value if math.isfinite(value) else _UNDECIDED
    if strict:
        return _UNDECIDED
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
    if spec.kind is None:
        return _UNDECIDED
    try:
        if spec.before is not None:
            value = spec.before(value)
        if value is None:  # pydantic runs an "after" validator on a None too
            if not spec.optional:
                return _UNDECIDED
            return spec.after(None) if spec.after is not None else None
        got = _scalar(value, spec.kind, spec.strict)
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
        spec = plan.fields.get(name) if isinstance(name, str) else None
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
            if getattr(model, name)() is not model:  # one that makes another: pydantic's say
                return False
    except (ValueError, AssertionError):
        return False
    return True


def plain_model(cls: type[M], data: dict[str, Any]) -> M | None:
    """``cls`` made from ``data`` as its validator would make it, without building the
    validator; None when pydantic must decide (then call it: it reports what is wrong)."""
    values = plain_fields(cls, data)
    if values is None:
        return None
    made = cls.model_construct(_fields_set=set(data), **values)
    return made if plain_model_checks(made) else None
