"""Requests checked against their models (:mod:`gossipreg.io.api.models`), and pydantic's
findings said in the API's words.

Rules: one refusal per request, the first finding; unknown fields or parameters first, all of
them named with the known ones; a field's :class:`~gossipreg.io.api.models.Says` words when it
has them, else the generic words below, which are the core's (``name must be a string, not
int``, ``tags must be a list of strings``); every refusal is an InvalidArgumentError (400).
"""

from __future__ import annotations

import json
import types
from typing import Any, TypeVar, Union, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.plain import plain_model
from gossipreg.io.api.models import Says

__all__ = ["body_of", "explain", "is_list_field", "query_of"]

M = TypeVar("M", bound=BaseModel)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _models_in(a)]


def is_list_field(model: type[BaseModel], name: str) -> bool:
    """Whether a parameter repeats (``?tag=a&tag=b``)."""
    field = model.model_fields.get(name)
    if field is None:
        return False
    ann = field.annotation
    if get_origin(ann) in (Union, types.UnionType):
        return any(get_origin(a) is list for a in get_args(ann))
    return get_origin(ann) is list


def _field(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[Any, str | None]:
    """The field info at ``loc`` (None past a list index or an unknown name), and its words."""
    current: list[type[BaseModel]] = [model]
    info: Any = None
    for part in loc:
        if not isinstance(part, str):
            return info, _says(info)
        found = next((m.model_fields[part] for m in current if part in m.model_fields), None)
        if found is None:
            return info, _says(info)
        info = found
        current = _models_in(found.annotation)
    return info, _says(info)


def _says(info: Any) -> str | None:
    for meta in getattr(info, "metadata", ()) or ():
        if isinstance(meta, Says):
            return meta.message
    return None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _generic(err: Any, where: str, is_list: bool) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return f"{where} is required"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if is_list and kind == "list_type":
        return f"{where} must be a list of strings"
    if kind == "string_type":
        return f"{where} must be a string, not {type(got).__name__}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{where} must be an object"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where} must be an integer"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"{where} must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return f"{where} must be true or false"
    bounds = {"greater_than": "greater than", "greater_than_equal": "at least",
              "less_than": "less than", "less_than_equal": "at most"}
    if kind in bounds:
        return f"{where} must be {bounds[kind]} {next(iter(ctx.values()))}"
    if kind in ("literal_error", "enum"):
        return f"{where} must be one of {ctx.get('expected', '?')}"
    if kind == "string_too_short":
        return f"{where} must not be empty"
    return f"{where}: {err['msg'][:1].lower()}{err['msg'][1:]}"


def explain(e: ValidationError, model: type[BaseModel], what: str = "fields") -> str:
    """pydantic's findings about ``model`` in one line (``what``: fields or parameters)."""
    errs = e.errors(include_url=False)
    extra = [err for err in errs if err["type"] == "extra_forbidden"]
    if extra:
        loc = tuple(extra[0]["loc"][:-1])
        names = sorted(str(err["loc"][-1]) for err in extra if tuple(err["loc"][:-1]) == loc)
        info, _ = _field(model, loc)
        scope = model if not loc else (_models_in(getattr(info, "annotation", None))
                                       or [model])[0]
        known = ", ".join(sorted(scope.model_fields)) or "none"
        where = f"{_path(loc)} " if loc else ""
        return f"unknown {where}{what}: {names} (known: {known})"
    err = errs[0]
    loc = tuple(err["loc"])
    info, says = _field(model, loc)
    if says is not None and err["type"] not in ("value_error", "missing"):
        return says
    if loc and isinstance(loc[-1], int) and err["type"] == "string_type":
        # an item of a list of strings, as the core says it
        return f"{_path(loc[:-1])} item must be a string, not {type(err.get('input')).__name__}"
    ann = getattr(info, "annotation", None)
    is_list = get_origin(ann) is list or any(get_origin(a) is list for a in get_args(ann))
    return _generic(err, _path(loc) or "body", is_list)


def query_of(request: web.Request, model: type[M]) -> M:
    """The request's query parameters as ``model`` (InvalidArgumentError when refused)."""
    q = request.query
    if not q:
        # Nothing to check: the defaults, as validating {} gives them (no parameter validates its
        # default). Most requests have no parameters, and a model is built only when one has
        # (pydantic's validator of each costs a node memory and its first request ~ms).
        return model.model_construct()
    raw: dict[str, Any] = {}
    for key in dict.fromkeys(q.keys()):
        values = q.getall(key)
        if is_list_field(model, key):
            raw[key] = values
        elif len(values) > 1:
            raise InvalidArgumentError(f"parameter {key} given {len(values)} times")
        else:
            raw[key] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise InvalidArgumentError(explain(e, model, "parameters")) from None


def parse_body(raw: bytes | str, model: type[M]) -> M:
    """A JSON body as ``model`` (InvalidArgumentError when refused)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgumentError("body must be valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgumentError("body must be a JSON object")
    # A body of plain values (words, numbers, lists of words) is checked without building the
    # model's validator, as it would check it (core/plain.py); anything else, and every
    # refusal, by pydantic.
    made = plain_model(model, data)
    if made is not None:
        return made
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidArgumentError(explain(e, model)) from None


async def body_of(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``."""
    return parse_body(await request.read(), model)
