"""The event ring keeps events once a consumer could hold a position, and only then: a node
nobody reads events from keeps none, and a position handed out is resumable exactly."""

from __future__ import annotations

from gossipreg.core.types import RegistryEvent, RegistryEventType
from gossipreg.io.event_ring import EventRing


def _ev(seq: int) -> RegistryEvent:
    return RegistryEvent(RegistryEventType.AGENT_REGISTERED, f"a{seq}", "rt", 0.0, {}, seq)


def test_an_unwatched_ring_counts_events_and_keeps_none() -> None:
    ring = EventRing("s", 100)
    for seq in range(1, 6):
        ring.add(_ev(seq))
    assert ring.seq == 5 and not ring.watched
    # Nobody could hold a position before now: an older one cannot be told (a reset).
    assert ring.since("s-2") is None
    assert ring.watched


def test_a_position_handed_out_resumes_every_later_event_once() -> None:
    ring = EventRing("s", 100)
    for seq in range(1, 4):
        ring.add(_ev(seq))
    pos = ring.position  # from here on the ring keeps what follows
    for seq in range(4, 7):
        ring.add(_ev(seq))
    got = ring.since(pos)
    assert got is not None and [e.seq for e in got] == [4, 5, 6]
    assert ring.since(ring.position) == []
