"""What the soak's writes leave in one node's capability index when nobody searches.

    python -m sim.bench.index_churn [--minutes 60] [--rate 45] [--scrape-every 60]

The write mix of ``python -m sim.mesh soak`` (30% deregistrations of the oldest agent, 30%
registrations of a new one, 40% status writes; at most 200 live agents), ``rate`` writes per
virtual second, each a put or removal on a :class:`CapabilityIndex` as the directory makes it
(with its record), and every ``scrape_every`` virtual seconds what a ``/metrics`` scrape asks
of the index (its distinct capabilities); never a search. Prints the memory the index holds
(tracemalloc) and Python's allocated blocks from the fifth virtual minute to the end: an index
whose deferred work is bounded shows no growth however long it runs. Deterministic (seeded).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tracemalloc

from gossipreg.core.search.index import CapabilityIndex
from gossipreg.core.types import AgentRecord, AgentStatus


def churn(minutes: float, rate: float, scrape_every: float, seed: int = 1
          ) -> tuple[float, int, int]:
    """``(MB, blocks, live agents)``: what the index gained from minute 5 to the end."""
    rng = random.Random(seed)
    idx = CapabilityIndex()
    live: dict[str, AgentRecord] = {}
    writes, warm, scrape = int(minutes * 60 * rate), int(300 * rate), int(scrape_every * rate)
    base = (0, 0)
    tracemalloc.start()
    try:
        for k in range(writes):
            if k == warm:
                gc.collect()
                base = (tracemalloc.get_traced_memory()[0], sys.getallocatedblocks())
            op = rng.random()
            if len(live) >= 200 or (op < 0.3 and live):
                aid = next(iter(live))
                del live[aid]
                idx.remove(aid)
                continue
            if op < 0.6 or not live:
                aid = "".join(("a", str(k)))  # a new string each time, as a request body's
                rec = live[aid] = AgentRecord(aid, aid, "bench", ("benchmark",),
                                              registered_at=float(k))
                status = AgentStatus.ACTIVE
            else:
                rec = live[rng.choice(list(live))]
                status = rng.choice((AgentStatus.ACTIVE, AgentStatus.DEGRADED))
            idx.put(rec.agent_id, rec.capabilities, status, rec.runtime_id,
                    rec.registered_at, rec.tags, "node-1", rec)
            if k % scrape == 0:
                idx.distinct_capabilities()
        gc.collect()
        mem, blocks = tracemalloc.get_traced_memory()[0], sys.getallocatedblocks()
    finally:
        tracemalloc.stop()
    return (mem - base[0]) / 1e6, blocks - base[1], len(idx)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m sim.bench.index_churn")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=45.0, help="writes per virtual second")
    ap.add_argument("--scrape-every", type=float, default=60.0, metavar="SECONDS")
    a = ap.parse_args()
    mb, blocks, n = churn(a.minutes, a.rate, a.scrape_every)
    print(f"{a.minutes:g} min of soak writes at {a.rate:g}/s, no search: from minute 5 the "
          f"index gained {mb:+.2f} MB, Python blocks {blocks:+,d} ({n} live agents)")


if __name__ == "__main__":
    main()
