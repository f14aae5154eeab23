"""The owner's heartbeat judge keeps no set of armed agents beside its times, and agents armed
together share one timer entry: the same verdicts, in the same order, at the same times, as a
judge with a set and an entry per agent (the reference below), for any sequence of
registrations (one or a batch), heartbeats, forgotten agents and timer checks."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from gossipreg.core.config import NodeConfig
from gossipreg.core.directory.liveness import HeartbeatJudge, Verdict


class ArmedSetJudge:
    """The reference: last-heard times, a heap of deadlines and a set of the armed."""

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.last: dict[str, float] = {}
        self.heap: list[tuple[float, str]] = []
        self.armed: set[str] = set()

    def heard(self, aid: str, now: float) -> None:
        assert self.cfg.heartbeat_timeout is not None
        self.last[aid] = now
        if aid not in self.armed:
            heapq.heappush(self.heap, (now + self.cfg.heartbeat_timeout, aid))
            self.armed.add(aid)

    def forget(self, aid: str) -> None:
        self.last.pop(aid, None)

    def next_deadline(self) -> float | None:
        return self.heap[0][0] if self.heap else None

    def due(self, now: float) -> Iterator[tuple[str, Verdict]]:
        timeout, expiry = self.cfg.heartbeat_timeout, self.cfg.auto_deregister_timeout
        assert timeout is not None
        while self.heap and self.heap[0][0] <= now:
            _, aid = heapq.heappop(self.heap)
            self.armed.discard(aid)
            last = self.last.get(aid)
            if last is None:
                continue
            if last + expiry <= now:
                self.last.pop(aid, None)
                yield aid, Verdict.EXPIRED
                continue
            if last + timeout <= now:
                yield aid, Verdict.UNHEALTHY
            at = last + timeout if last + timeout > now else last + expiry
            heapq.heappush(self.heap, (at, aid))
            self.armed.add(aid)


AIDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("heard"), AIDS, st.floats(0.0, 3.0)),
    st.tuples(st.just("batch"), st.lists(AIDS, max_size=6, unique=True), st.floats(0.0, 3.0)),
    st.tuples(st.just("forget"), AIDS, st.just(0.0)),
    st.tuples(st.just("due"), st.just(""), st.floats(0.0, 6.0)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_the_same_verdicts_as_a_judge_with_a_set_of_the_armed(ops: list[tuple[str, object, float]]
                                                               ) -> None:
    cfg = NodeConfig.lan(heartbeat_timeout=2.0, auto_deregister_timeout=5.0)
    judge, ref = HeartbeatJudge(cfg), ArmedSetJudge(cfg)
    now = 0.0
    for op, arg, dt in ops:
        now += dt
        if op == "heard":
            assert isinstance(arg, str)
            judge.heard(arg, now)
            ref.heard(arg, now)
        elif op == "batch":
            assert isinstance(arg, list)
            judge.heard_many(arg, now)
            for aid in arg:
                ref.heard(aid, now)
        elif op == "forget":
            assert isinstance(arg, str)
            judge.forget(arg)
            ref.forget(arg)
        else:
            assert list(judge.due(now)) == list(ref.due(now))
        assert judge.next_deadline() == ref.next_deadline()
