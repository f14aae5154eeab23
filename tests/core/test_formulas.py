"""Table tests of the protocol's pure formulas and of the hybrid logical clock."""

from __future__ import annotations

import pytest

from gossipreg.core.errors import InvalidArgumentError
from gossipreg.core.formulas import (
    awareness_scale,
    miss_probability,
    push_pull_scale,
    retransmit_limit,
    suspicion_timeout,
    suspicion_timeout_bounds,
)
from gossipreg.core.replica.hlc import HybridClock, Stamp


@pytest.mark.parametrize(("mult", "n", "want"), [
    (4, 0, 4), (4, 1, 4), (4, 9, 4), (4, 10, 8), (4, 99, 8), (4, 100, 12), (4, 1000, 16),
    (3, 5000, 12),
])
def test_retransmit_limit(mult: int, n: int, want: int) -> None:
    assert retransmit_limit(mult, n) == want


@pytest.mark.parametrize(("n", "want"), [
    (2, 0.0), (8, 0.0494), (10, 0.00073), (99, 0.0287), (100, 0.00051), (1000, 0.00011),
])
def test_miss_probability(n: int, want: float) -> None:
    assert miss_probability(retransmit_limit(4, n), n) == pytest.approx(want, rel=0.02, abs=1e-9)


def test_miss_probability_against_sampling() -> None:
    """The closed form agrees with drawing the sends at random."""
    import random
    rng = random.Random(7)
    n, limit, trials = 20, 4, 3000
    missed = sum(
        len({rng.randrange(n - 1) for _ in range(n * limit)}) < n - 1 for _ in range(trials))
    assert missed / trials == pytest.approx(miss_probability(limit, n), abs=0.03)


@pytest.mark.parametrize(("n", "lo", "hi"), [
    (1, 4.0, 24.0), (8, 4.0, 24.0), (10, 4.0, 24.0), (100, 8.0, 48.0), (1000, 12.0, 72.0),
])
def test_suspicion_bounds(n: int, lo: float, hi: float) -> None:
    assert suspicion_timeout_bounds(4, 6, n, 1.0) == pytest.approx((lo, hi))


@pytest.mark.parametrize(("c", "k", "want"), [
    (0, 2, 24.0), (1, 2, 24.0 - 20.0 * 0.6309297535714574), (2, 2, 4.0), (5, 2, 4.0),
    (0, 0, 4.0), (3, 3, 4.0),
])
def test_suspicion_shrinks_with_confirmations(c: int, k: int, want: float) -> None:
    assert suspicion_timeout(4.0, 24.0, c, k) == pytest.approx(want)


@pytest.mark.parametrize(("value", "health", "want"), [(0.5, 0, 0.5), (0.5, 1, 1.0),
                                                       (1.0, 7, 8.0)])
def test_awareness_scale(value: float, health: int, want: float) -> None:
    assert awareness_scale(value, health) == want


@pytest.mark.parametrize(("n", "want"), [(1, 30), (32, 30), (33, 60), (64, 60), (65, 90),
                                         (300, 150), (1000, 180)])
def test_push_pull_scale(n: int, want: float) -> None:
    assert push_pull_scale(30.0, n) == want


def test_hlc_monotonic_causal_and_close_to_wall() -> None:
    a, b = HybridClock("a"), HybridClock("b")
    s1 = a.now(1000)
    s2 = a.now(900)  # wall clock went backwards: still increasing
    assert s2 > s1 and s2.wall_ms == 1000
    remote = b.now(5000)
    assert a.observe(remote, 1100)
    s3 = a.now(1100)
    assert s3 > remote and s3.wall_ms == 5000  # never above the largest wall time seen
    far = Stamp(10**9, 0, "z")
    assert not a.observe(far, 1200)  # beyond max drift: not followed
    assert a.now(1200).wall_ms == 5000
    assert Stamp.from_wire(s3.to_wire()) == s3


@pytest.mark.parametrize("raw", [None, [], [1, 2], [1, 2, 3], ["1", 2, "a"], [1, -2, "a"],
                                 [True, 0, "a"], [1, 0, ""], [2**64, 0, "a"]])
def test_stamp_from_wire_rejects_garbage(raw: object) -> None:
    with pytest.raises(InvalidArgumentError):
        Stamp.from_wire(raw)
