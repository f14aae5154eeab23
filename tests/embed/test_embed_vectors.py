"""gossipreg.core.search.vectors: the int8 scheme, exact scores, and hostile vectors refused."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.errors import GossipregError, InvalidArgumentError
from gossipreg.core.search.vectors import (
    MAX_DIMS,
    MAX_MODEL_TAG,
    MAX_VECTORS,
    SCORE_SCALE,
    VectorError,
    VectorSet,
    best_score,
    check_model_tag,
    decode_int8,
    dot,
    encode_int8,
    quantize,
    score,
    validate_vectors,
    vector_set_from_wire,
)

TAG = "wordllama/l2_supercat-256"


def test_the_scheme_on_a_hand_computed_vector() -> None:
    # (3, 4) / 5 * 127 = (76.2, 101.6) -> (76, 102)
    code = quantize([3.0, 4.0])
    assert decode_int8(code) == [76, 102]
    assert code == bytes([76, 102])
    assert decode_int8(quantize([-3, -4])) == [-76, -102]
    assert quantize([0.0, 0.0, 0.0]) == bytes(3)  # zero stays zero
    assert decode_int8(quantize([1e300, -1e300])) == [90, -90]  # no overflow
    assert decode_int8(quantize([5e-324, 0.0])) == [127, 0]  # no underflow


def test_the_code_depends_only_on_the_direction_bit_for_bit() -> None:
    v = [0.1, -0.7, 0.33, 2.5, -1e-3, 0.0, 1.25, -0.5]
    code = quantize(v)
    for shift in (-60, -1, 1, 40, 900):
        assert quantize([math.ldexp(x, shift) for x in v]) == code
    assert quantize(tuple(v)) == code  # any sequence


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=MAX_DIMS))
def test_quantize_is_within_half_a_step_and_round_trips(v: list[float]) -> None:
    code = quantize(v)
    assert len(code) == len(v)
    ints = decode_int8(code)
    assert all(-127 <= c <= 127 for c in ints)
    assert encode_int8(ints) == code
    # The reference direction, from v rescaled by a power of two first (exact): subnormal
    # components (5e-324) would otherwise lose the precision the norm needs.
    top = max(abs(x) for x in v)
    w = [math.ldexp(x, -math.frexp(top)[1]) for x in v] if top else v
    norm = math.hypot(*w)
    if 0 < norm < math.inf:
        assert all(abs(c - 127 * (x / norm)) <= 0.5 + 1e-6 for c, x in zip(ints, w, strict=True))
    assert validate_vectors(TAG, [code]).codes == (code,)


def test_scores_are_exact_and_symmetric() -> None:
    a, b = quantize([3, 4]), quantize([4, 3])  # (76, 102) and (102, 76)
    assert dot(a, b) == dot(b, a) == 2 * 76 * 102
    assert score(a, b) == score(b, a) == 2 * 76 * 102 / 16129
    assert SCORE_SCALE == 127 * 127
    assert score(a, a) == (76 * 76 + 102 * 102) / 16129  # about 1 (here 1.003)
    c = encode_int8([-76, -102])
    assert score(a, c) == -score(a, a)
    assert best_score(a, [c, b, a]) == score(a, a)
    assert VectorSet(TAG, 2, (c, b)).best_score(a) == score(a, b)
    assert [score(a, b) for _ in range(3)] == [score(a, b)] * 3


def test_scoring_codes_of_different_lengths_is_refused() -> None:
    with pytest.raises(VectorError, match="dims"):
        dot(bytes(3), bytes(4))
    with pytest.raises(VectorError, match="count"):
        best_score(bytes(3), [])


@pytest.mark.parametrize(("values", "reason"), [
    ([], "dims"),
    ([0.5] * (MAX_DIMS + 1), "dims"),
    ([0.5, float("nan")], "finite"),
    ([float("inf"), 1.0], "finite"),
    ([0.5, "1"], "type"),
    ([True, 1.0], "type"),
])
def test_quantize_refuses_what_is_not_a_vector(values: list[object], reason: str) -> None:
    with pytest.raises(VectorError) as raised:
        quantize(values)  # type: ignore[arg-type]
    assert raised.value.reason == reason


def test_the_wire_form_round_trips_through_msgpack() -> None:
    codes = [quantize([float(i), 1.0, -2.0, 0.5] * 64) for i in range(MAX_VECTORS)]
    vs = validate_vectors(TAG, codes, dims=256)
    assert (vs.model, vs.dims, len(vs.codes)) == (TAG, 256, MAX_VECTORS)
    packed = msgpack.packb(vs.to_wire(), use_bin_type=True)
    assert len(packed) < MAX_VECTORS * (256 + 3) + 64  # one byte per component
    back = vector_set_from_wire(msgpack.unpackb(packed, raw=False), dims=256)
    assert back == vs
    # A JSON body carries lists of ints: the same set.
    assert validate_vectors(TAG, [decode_int8(c) for c in codes]) == vs


GOOD = bytes([1, 2, 3, 4])


@pytest.mark.parametrize(("model", "codes", "dims", "reason"), [
    (TAG, [GOOD, bytes(5)], None, "dims"),  # lengths differ
    (TAG, [GOOD], 256, "dims"),  # not the model's length
    (TAG, [bytes(MAX_DIMS + 1)], None, "dims"),
    (TAG, [b""], None, "dims"),
    (TAG, [[1, 2, float("nan"), 4]], None, "finite"),
    (TAG, [[1, 2, float("inf"), 4]], None, "finite"),
    (TAG, [GOOD] * (MAX_VECTORS + 1), None, "count"),
    (TAG, [], None, "count"),
    (TAG, [[1, 2, 128, 4]], None, "range"),
    (TAG, [[1, 2, -128, 4]], None, "range"),
    (TAG, [[1, 2, 10**20, 4]], None, "range"),
    (TAG, [bytes([1, 0x80, 3, 4])], None, "range"),  # -128 is never produced
    ("m" * (MAX_MODEL_TAG + 1), [GOOD], None, "model"),
    ("", [GOOD], None, "model"),
    ("modèle", [GOOD], None, "model"),
    ("two words", [GOOD], None, "model"),
    ("tab\there", [GOOD], None, "model"),
    (b"bytes-tag", [GOOD], None, "model"),
    (None, [GOOD], None, "model"),
    (TAG, GOOD, None, "type"),  # bytes where the list of vectors belongs
    (TAG, {"v": GOOD}, None, "type"),
    (TAG, ["0102"], None, "type"),
    (TAG, [[1, 2, 3.0, 4]], None, "type"),
    (TAG, [[1, 2, True, 4]], None, "type"),
    (TAG, [bytearray(GOOD)], None, "type"),
])
def test_hostile_vectors_are_refused(model: object, codes: object, dims: int | None,
                                     reason: str) -> None:
    with pytest.raises(VectorError) as raised:
        validate_vectors(model, codes, dims=dims)
    assert raised.value.reason == reason
    assert isinstance(raised.value, GossipregError)
    assert isinstance(raised.value, InvalidArgumentError)


@pytest.mark.parametrize("value", [None, [TAG], [TAG, [GOOD], "extra"], TAG, {TAG: [GOOD]}])
def test_a_malformed_wire_value_is_refused(value: object) -> None:
    with pytest.raises(VectorError, match="type"):
        vector_set_from_wire(value)


def test_model_tags() -> None:
    for tag in (TAG, "ollama/nomic-embed-text:v1.5", "openai/text-embedding-3-small", "x",
                "m" * MAX_MODEL_TAG):
        assert check_model_tag(tag) == tag
