"""The broadcast queue against a plain model: each item is handed out least-transmitted first
(newest first among equals), within the byte budget, until it was sent ``limit`` times."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.gossip.broadcast import BroadcastQueue

ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.integers(0, 6), st.integers(1, 40)),
    st.tuples(st.just("take"), st.integers(0, 120), st.integers(1, 5)),
    st.tuples(st.just("discard"), st.integers(0, 6), st.just(0)),
), max_size=60)


class Model:
    def __init__(self) -> None:
        self.items: dict[int, list[int]] = {}  # key -> [transmits, size, seq]
        self.seq = 0

    def put(self, key: int, size: int) -> None:
        self.seq += 1
        self.items[key] = [0, size, self.seq]

    def take(self, budget: int, limit: int) -> list[int]:
        out = []
        # Least transmitted first; inside a count, newest arrival in that count first.
        for key in sorted(self.items, key=lambda k: (self.items[k][0], -self.items[k][2])):
            if budget <= 0:
                break
            size = self.items[key][1]
            if size <= budget:
                budget -= size
                out.append(key)
        for key in reversed(out):  # items moving up together keep their order
            self.seq += 1
            self.items[key][0] += 1
            self.items[key][2] = self.seq
        for key in list(self.items):
            if self.items[key][0] >= limit:
                del self.items[key]
        return out


@settings(max_examples=300, deadline=None)
@given(ops)
def test_queue_matches_the_model(script: list[tuple[str, int, int]]) -> None:
    q, m = BroadcastQueue(), Model()
    for op, a, b in script:
        if op == "put":
            q.put(a, 1, bytes([a]) * b)
            m.put(a, b)
        elif op == "discard":
            q.discard(a)
            m.items.pop(a, None)
        else:
            got = [packed[0] for _, packed, _ in q.take(a, b)]
            want = m.take(a, b)
            assert got == want
        assert len(q) == len(m.items)


def test_an_item_is_sent_exactly_limit_times() -> None:
    q = BroadcastQueue()
    q.put("k", 1, b"x" * 10)
    sent = sum(len(q.take(1000, 4)) for _ in range(10))
    assert sent == 4 and len(q) == 0


def test_a_bounded_queue_evicts_the_most_sent_oldest_first() -> None:
    q = BroadcastQueue(max_items=3)
    for k in "abc":
        q.put(k, 1, k.encode())
    q.take(1000, 10)  # a, b, c sent once each
    q.put("d", 1, b"d")  # over the bound: the oldest of the most sent goes
    q.put("e", 1, b"e")
    assert len(q) == 3 and q.evicted == 2
    assert sorted(p for _, p, _ in q.take(1000, 10)) == [b"c", b"d", b"e"]
    q.put("c", 1, b"c2")  # a replacement is no new item: nothing evicted
    assert len(q) == 3 and q.evicted == 2


@settings(max_examples=200, deadline=None)
@given(ops)
def test_a_bounded_queue_never_holds_more(script: list[tuple[str, int, int]]) -> None:
    q = BroadcastQueue(max_items=4)
    for op, a, b in script:
        if op == "put":
            q.put(a, 1, bytes([a]) * b)
        elif op == "discard":
            q.discard(a)
        else:
            q.take(a, b)
        assert len(q) <= 4
