"""The measurements, the same for every system (see sim/mesh/__main__.py for the names).

Run inside a private network namespace when possible, so that the loopback byte counters
belong to this system's nodes alone.
"""

from __future__ import annotations

import asyncio
import random
import signal
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sim.mesh.drivers import Driver
from sim.mesh.procs import Children, cpu_seconds, rss_mb, uss_mb

__all__ = ["measure"]

POLL = 0.05


def _lo_tx() -> int | None:
    try:
        with open("/sys/class/net/lo/statistics/tx_bytes") as f:
            return int(f.read())
    except OSError:
        return None


async def _until(pred: Callable[[], Awaitable[bool]], timeout: float,
                 check: Callable[[], None]) -> float | None:
    """Seconds until ``pred`` holds (None after ``timeout``); ``check`` runs before every try
    and ends the wait (with the dead process's output) if a node has died."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        check()
        try:
            if await pred():
                return time.monotonic() - t0
        except (TimeoutError, OSError, ConnectionError, RuntimeError, KeyError):
            pass
        await asyncio.sleep(POLL)
    return None


async def measure(d: Driver, children: Children, n: int, reps: int, idle_s: float,
                  log: Callable[[str], None], seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"nodes": n}
    idx = list(range(n))
    names = {d.node_name(i) for i in idx}

    async def all_states(members: list[int]) -> list[dict[str, str]]:
        return list(await asyncio.gather(*(d.states(i) for i in members)))

    # Join: every node sees all n alive, timed from the moment the last one is running.
    # start(0) returns once the seed listens; every node joins it.
    for i in idx:
        d.start(i)
    d.check()
    log(f"{d.name}: {n} nodes started")

    async def joined() -> bool:
        return all(sum(s == "alive" for k, s in st.items() if k in names) == n
                   for st in await all_states(idx))

    out["join_s"] = await _until(joined, 120, d.check)
    log(f"{d.name}: join converged in {out['join_s']}")

    # Propagation: one piece of metadata published on a random node, seen by all.
    props = []
    for r in range(reps):
        key = f"k{r}{rng.randrange(10**6)}"
        src = rng.choice(idx)
        d.check()
        t0 = time.monotonic()
        await d.publish(src, key)

        async def everywhere(key: str = key) -> bool:
            return all(await asyncio.gather(*(d.sees(i, key) for i in idx)))

        await _until(everywhere, 60, d.check)
        props.append(time.monotonic() - t0)
    out["propagation_s"] = statistics.median(props)
    out["propagation_samples"] = props
    log(f"{d.name}: propagation {props}")

    # Idle: CPU, RSS and loopback bytes over a quiet window (no polling meanwhile).
    await asyncio.sleep(2.0)
    d.check()
    pids = d.pids
    cpu0, b0, t0 = sum(cpu_seconds(p) for p in pids), _lo_tx(), time.monotonic()
    await asyncio.sleep(idle_s)
    cpu1, b1, t1 = sum(cpu_seconds(p) for p in pids), _lo_tx(), time.monotonic()
    d.check()  # a node that died meanwhile would leave the window's figures short
    out["idle_cpu_ms_per_node_per_s"] = (cpu1 - cpu0) * 1000 / n / (t1 - t0)
    out["rss_mb_per_node"] = statistics.mean(rss_mb(p) for p in pids)
    out["uss_mb_per_node"] = statistics.mean(uss_mb(p) for p in pids)
    out["idle_bytes_per_node_per_s"] = (None if b0 is None or b1 is None
                                        else (b1 - b0) / n / (t1 - t0))
    log(f"{d.name}: idle cpu {out['idle_cpu_ms_per_node_per_s']:.2f} ms/s, rss "
        f"{out['rss_mb_per_node']:.1f} MB, uss {out['uss_mb_per_node']:.1f} MB, "
        f"bytes {out['idle_bytes_per_node_per_s']}")

    # A 1 s SIGSTOP must not be taken for a failure.
    paused = rng.choice(idx[1:])
    procs = d.procs  # type: ignore[attr-defined]
    children.signal(procs[paused], signal.SIGSTOP)
    await asyncio.sleep(1.0)
    children.signal(procs[paused], signal.SIGCONT)
    accusers: set[int] = set()
    t_end = time.monotonic() + 10
    victim_name = d.node_name(paused)
    while time.monotonic() < t_end:
        d.check()
        observers = [i for i in idx if i != paused]
        for i, st in zip(observers, await all_states(observers), strict=True):
            if st.get(victim_name) == "failed":
                accusers.add(i)
        await asyncio.sleep(0.2)
    out["false_dead"] = len(accusers)
    log(f"{d.name}: false DEAD under a 1 s pause: {len(accusers)}")

    # Detection: SIGKILL a node, every survivor must report it failed.
    dets = []
    alive = [i for i in idx if i != 0]
    for _ in range(min(reps, n - 2)):
        victim = rng.choice(alive)
        alive.remove(victim)
        survivors = [0, *alive]
        vname = d.node_name(victim)
        t0 = time.monotonic()
        children.signal(procs[victim], signal.SIGKILL)

        async def detected(survivors: list[int] = survivors, vname: str = vname) -> bool:
            return all(st.get(vname) == "failed" for st in await all_states(survivors))

        took = await _until(detected, 60, d.check)
        dets.append(took if took is not None else float("inf"))
        log(f"{d.name}: {vname} killed, failed everywhere after {took}")
    out["detection_s"] = statistics.median(dets) if dets else None
    out["detection_samples"] = dets
    if d.name == "gossipreg":
        await _restart(d, survivors=[0, *alive], out=out, log=log, rng=rng)
    return out


async def _restart(d: Any, survivors: list[int], out: dict[str, Any],
                   log: Callable[[str], None], rng: random.Random) -> None:
    """A restart (kill -9, start again on the same address with a new generation). Network
    faults (partitions, loss) are kernel faults on emulated hosts: ``python -m sim.mesh
    faults``."""
    names = {i: d.node_name(i) for i in survivors}

    async def whole() -> bool:
        sts = await asyncio.gather(*(d.states(i) for i in survivors))
        return all(st.get(names[j]) == "alive" for st in sts for j in survivors)

    victim = rng.choice(survivors[1:])
    d.children.signal(d.procs[victim], signal.SIGKILL)
    d.procs[victim].wait(5)
    t0 = time.monotonic()
    d.start(victim)
    back = await _until(whole, 60, d.check)
    out["restart_rejoin_s"] = back if back is None else time.monotonic() - t0
    log(f"{d.name}: {names[victim]} restarted, alive everywhere after {out['restart_rejoin_s']}")
