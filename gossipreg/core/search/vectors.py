"""Vectors for hybrid search: int8 quantisation, scores, and the checks on vectors from peers.

Quantisation scheme (per vector, no scale factor to carry)::

    unit  = v / ||v||                      (||v|| = sqrt(fsum(x * x)), correctly rounded)
    code  = round(127 * unit_i)            (round half to even, then clamped to [-127, 127])
    wire  = bytes, one two's-complement signed byte per component (a msgpack ``bin``)

A zero vector stays the zero code, which scores 0 against everything. -128 is never produced and
is refused from peers, so the code range is symmetric.

Score: the integer dot product of two codes of equal length, divided by 127 ** 2 = 16129. That
approximates the cosine of the two original vectors to within the rounding error (so it can pass
1.0 by a little); for one query it ranks exactly as the integer dot product does.

Rules: pure and deterministic: no I/O, clock or randomness, the standard library only (numpy is
not needed). Floats enter only through :func:`quantize`, whose result depends only on its input
(fsum and sqrt are correctly rounded, round is half-to-even); everything after it is integer
arithmetic plus one final IEEE division, so scores are bit-identical on every platform. Vectors
received from peers go through :func:`validate_vectors` (or :func:`vector_set_from_wire`), which
checks sizes before it looks at contents and raises only :class:`VectorError`, whose ``reason`` is a
stable metric label.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from gossipreg.core.errors import InvalidArgumentError

__all__ = [
    "INT8_MAX",
    "MAX_DIMS",
    "MAX_MODEL_TAG",
    "MAX_VECTORS",
    "SCORE_SCALE",
    "VectorError",
    "VectorSet",
    "best_score",
    "check_model_tag",
    "decode_int8",
    "dot",
    "encode_int8",
    "quantize",
    "quantize_sum",
    "score",
    "validate_vectors",
    "vector_set_from_wire",
]

#: Largest vector length accepted (from an embedder or a peer).
MAX_DIMS = 512
#: Largest number of vectors one record may carry.
MAX_VECTORS = 8
#: Longest model tag, in ASCII characters.
MAX_MODEL_TAG = 64
#: Largest magnitude of a code component.
INT8_MAX = 127
#: The divisor that turns an integer dot product into a score (127 ** 2).
SCORE_SCALE = INT8_MAX * INT8_MAX

_MINUS_128 = b"\x80"


class VectorError(InvalidArgumentError):
    """A vector, a set of vectors or a model tag is not acceptable.

    ``reason`` is a short stable label (``type``, ``model``, ``count``, ``dims``, ``finite``,
    ``range``) suitable for a metric; ``detail`` says what was wrong.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class VectorSet:
    """A record's checked vectors: a model tag and 1..MAX_VECTORS codes of one length."""

    model: str
    dims: int
    codes: tuple[bytes, ...]

    def to_wire(self) -> list[object]:
        """The msgpack-ready form ``[model, [code, ...]]`` read back by
        :func:`vector_set_from_wire`."""
        return [self.model, list(self.codes)]

    def best_score(self, query: bytes) -> float:
        """The highest score of ``query`` against this set's codes (see :func:`best_score`)."""
        return best_score(query, self.codes)


def quantize(values: Sequence[float]) -> bytes:
    """Quantise one float vector to an int8 code (the scheme in the module docstring).

    Raises VectorError if the vector is empty, longer than MAX_DIMS, or holds a value that is
    not a finite number.
    """
    n = len(values)
    if not 0 < n <= MAX_DIMS:
        raise VectorError("dims", f"{n} components, expected 1..{MAX_DIMS}")
    floats: list[float] = []
    for x in values:
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise VectorError("type", f"component of type {type(x).__name__}")
        f = float(x)
        if not math.isfinite(f):
            raise VectorError("finite", "component is NaN or infinite")
        floats.append(f)
    return _code(floats)


def quantize_sum(a: bytes, b: bytes, weight: float) -> bytes:
    """``quantize(a + weight * b)`` of two codes (as signed components), without quantize's
    per-component checks, which cost more than the arithmetic and cannot fail here (the sums
    are finite). Raises VectorError if the lengths differ."""
    if len(a) != len(b):
        raise VectorError("dims", f"lengths {len(a)} and {len(b)} differ")
    return _code([x + weight * y for x, y in zip(memoryview(a).cast("b"),
                                                  memoryview(b).cast("b"), strict=True)])


def _code(floats: list[float]) -> bytes:
    """The int8 code of checked, finite components (quantize's scheme)."""
    top = max(map(abs, floats))
    if top == 0.0:
        return bytes(len(floats))
    # An exact power-of-two rescale first, so that no square overflows or underflows to zero.
    shift = -math.frexp(top)[1]
    floats = [math.ldexp(f, shift) for f in floats]
    scale = INT8_MAX / math.sqrt(math.fsum(f * f for f in floats))
    return bytes(min(INT8_MAX, max(-INT8_MAX, round(f * scale))) & 0xFF for f in floats)


def decode_int8(code: bytes) -> list[int]:
    """The signed components of a code."""
    return list(memoryview(code).cast("b"))


def encode_int8(values: Sequence[int]) -> bytes:
    """A code from signed components, each an int in [-127, 127].

    Raises VectorError for a wrong length, a non-int component or one out of range.
    """
    n = len(values)
    if not 0 < n <= MAX_DIMS:
        raise VectorError("dims", f"{n} components, expected 1..{MAX_DIMS}")
    for v in values:
        if isinstance(v, float):
            if not math.isfinite(v):
                raise VectorError("finite", "component is NaN or infinite")
            raise VectorError("type", "component is a float, expected an int")
        if isinstance(v, bool) or not isinstance(v, int):
            raise VectorError("type", f"component of type {type(v).__name__}")
        if not -INT8_MAX <= v <= INT8_MAX:
            raise VectorError("range", f"component {v} outside [-{INT8_MAX}, {INT8_MAX}]")
    return bytes(v & 0xFF for v in values)


def dot(a: bytes, b: bytes) -> int:
    """The exact integer dot product of two codes of equal length.

    Raises VectorError if the lengths differ.
    """
    if len(a) != len(b):
        raise VectorError("dims", f"lengths {len(a)} and {len(b)} differ")
    return sum(map(operator.mul, memoryview(a).cast("b"), memoryview(b).cast("b")))


def score(a: bytes, b: bytes) -> float:
    """``dot(a, b) / 127**2``: about the cosine of the original vectors, bit-identical everywhere.

    Raises VectorError if the lengths differ.
    """
    return dot(a, b) / SCORE_SCALE


def best_score(query: bytes, codes: Sequence[bytes]) -> float:
    """The highest :func:`score` of ``query`` against ``codes`` (a record's vectors).

    Raises VectorError if ``codes`` is empty or a length differs from the query's.
    """
    if not codes:
        raise VectorError("count", "no vectors to score")
    return max(dot(query, c) for c in codes) / SCORE_SCALE


def check_model_tag(tag: object) -> str:
    """``tag`` if it is a model tag: 1..MAX_MODEL_TAG printable ASCII characters, no spaces.

    Raises VectorError (reason ``model``) otherwise.
    """
    if not isinstance(tag, str):
        raise VectorError("model", f"model tag of type {type(tag).__name__}")
    if not 0 < len(tag) <= MAX_MODEL_TAG:
        raise VectorError("model", f"tag of {len(tag)} characters, expected 1..{MAX_MODEL_TAG}")
    if not all("!" <= ch <= "~" for ch in tag):
        raise VectorError("model", "model tag must be printable ASCII without spaces")
    return tag


def _check_code(value: object) -> bytes:
    """One vector from a peer: ``bytes`` (the msgpack form) or a list of ints (a JSON form)."""
    if isinstance(value, bytes):
        if not 0 < len(value) <= MAX_DIMS:
            raise VectorError("dims", f"{len(value)} components, expected 1..{MAX_DIMS}")
        if _MINUS_128 in value:
            raise VectorError("range", f"component -128 outside [-{INT8_MAX}, {INT8_MAX}]")
        return value
    if isinstance(value, list | tuple):
        return encode_int8(value)
    raise VectorError("type", f"vector of type {type(value).__name__}")


def validate_vectors(model: object, codes: object, *, dims: int | None = None) -> VectorSet:
    """Check a record's vectors as received from a peer and return them as a VectorSet.

    ``codes`` is a list (or tuple) of 1..MAX_VECTORS vectors, each ``bytes`` of int8 or a list
    of ints in [-127, 127], all of one length in 1..MAX_DIMS; ``dims``, if given, is the length
    they must have (the local embedder's, when the model tags match). Raises VectorError.
    """
    tag = check_model_tag(model)
    if not isinstance(codes, list | tuple):
        raise VectorError("type", f"vectors of type {type(codes).__name__}, expected a list")
    if not 0 < len(codes) <= MAX_VECTORS:
        raise VectorError("count", f"{len(codes)} vectors, expected 1..{MAX_VECTORS}")
    checked = tuple(_check_code(c) for c in codes)
    size = len(checked[0])
    if any(len(c) != size for c in checked):
        raise VectorError("dims", "vectors of different lengths")
    if dims is not None and size != dims:
        raise VectorError("dims", f"{size} components, expected {dims} for {tag}")
    return VectorSet(model=tag, dims=size, codes=checked)


def vector_set_from_wire(value: object, *, dims: int | None = None) -> VectorSet:
    """Read :meth:`VectorSet.to_wire`'s ``[model, [code, ...]]`` from a peer. Raises VectorError."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise VectorError("type", "expected [model, [vector, ...]]")
    return validate_vectors(value[0], value[1], dims=dims)
