"""One seeded schedule of kernel and process faults, played on both systems at once.

Host ``i`` of the lab runs gossipreg's node ``g<i>`` and Serf's agent ``s<i>`` side by side, so
every nftables rule and every signal hits both systems at the same moment; each system is
watched on its own (:class:`~sim.mesh.watch.Watch`) and each wait is bounded (``timeout``).

The schedule, after a lossless join (all see all alive), with ``loss`` on every host's input
from then on:

1. lossy windows: for each rate in ``windows``, ``window`` seconds of writes (gossipreg:
   registrations and status writes; Serf: tag changes) on random nodes; any live member seen
   failed is a false failure; propagation (one key, seen by all) is timed three times;
2. ``kills`` times: SIGKILL of a random host's processes → detection (failed at every
   survivor), then a restart on the same address → rejoin (all see all alive);
3. ``partitions`` two-way partitions into two random groups → split (each side sees every
   member of the other failed), then heal → heal (all see all alive);
4. one one-way partition (a third of the hosts can no longer reach the rest; the rest still
   reach them) held ``hold`` seconds → what each side concluded, then heal → heal time;
5. isolation of one host → detection by the others, then heal → rejoin;
6. SIGSTOP of one host for ``pause`` seconds, then SIGCONT → false failures of the paused host.

False failures are counted (distinct observer/subject pairs) in every step, for the members
that the step does not cut off.
"""

from __future__ import annotations

import asyncio
import random
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.mesh.hosts import GossipregHosts, HostDriver, SerfHosts
from sim.mesh.netns import NetLab
from sim.mesh.watch import Watch

__all__ = ["Schedule", "play"]

Log = Callable[[str], None]


@dataclass
class Schedule:
    """The knobs of one run (see the module docstring)."""

    nodes: int = 12
    loss: float = 0.1
    windows: list[float] = field(default_factory=lambda: [0.1, 0.2])
    window: float = 60.0
    partitions: int = 5
    kills: int = 3
    hold: float = 20.0
    pause: float = 2.0
    timeout: float = 90.0
    seed: int = 1
    halves: bool = False  # partitions into two halves (default: random sizes, >= a third)
    steps: frozenset[str] = frozenset({"loss", "kill", "partition", "oneway", "isolate",
                                       "stop"})


def _spread(xs: list[float | None]) -> dict[str, Any]:
    got = [x for x in xs if x is not None]
    return {"min": min(got) if got else None,
            "median": statistics.median(got) if got else None,
            "max": max(got) if got else None, "missed": len(xs) - len(got), "samples": xs}


class _Run:
    def __init__(self, lab: NetLab, drivers: list[HostDriver], sch: Schedule, log: Log
                 ) -> None:
        self.lab, self.drivers, self.s, self.log = lab, drivers, sch, log
        self.rng = random.Random(sch.seed)
        self.watches = {d.name: Watch(d) for d in drivers}
        self.live = set(range(sch.nodes))
        self.out: dict[str, dict[str, Any]] = {d.name: {} for d in drivers}
        self.faults_log: list[str] = []

    # -- helpers ----------------------------------------------------------------------------

    def note(self, what: str) -> None:
        self.faults_log.append(what)
        self.log(what)

    async def wait(self, key: str, pred: Callable[[Watch, float], bool], since: float
                   ) -> dict[str, float | None]:
        """Wait (bounded) until ``pred`` holds for every system; record and return times."""
        names = list(self.watches)
        got = await asyncio.gather(*(self.watches[n].until(
            lambda t, w=self.watches[n]: pred(w, t), since, self.s.timeout) for n in names))
        res = dict(zip(names, got, strict=True))
        self.log(f"  {key}: " + ", ".join(f"{n} {_fmt(v)}" for n, v in res.items()))
        return res

    def all_alive(self, who: set[int]) -> Callable[[Watch, float], bool]:
        return lambda w, t: w.all_see(who, who, "alive", t)

    def guard(self, members: set[int]) -> None:
        for w in self.watches.values():
            w.guard = set(members)

    def false_since(self, mark: dict[str, int]) -> dict[str, int]:
        return {n: len(w.false) - mark[n] for n, w in self.watches.items()}

    def mark(self) -> dict[str, int]:
        return {n: len(w.false) for n, w in self.watches.items()}

    def record(self, key: str, values: dict[str, Any]) -> None:
        for n, v in values.items():
            self.out[n].setdefault(key, []).append(v)

    def seeds(self, exclude: int) -> list[int]:
        return sorted(self.live - {exclude})[:2]

    # -- steps ------------------------------------------------------------------------------

    async def join(self) -> None:
        for d in self.drivers:
            d.start(0, [])
        await asyncio.sleep(0.5)
        for i in range(1, self.s.nodes):
            for d in self.drivers:
                d.start(i, [0])
        t0 = time.monotonic()
        for w in self.watches.values():
            w.running = set(self.live)
            w.start()
        self.note(f"started {self.s.nodes} hosts")
        for n, v in (await self.wait("join", self.all_alive(self.live), t0)).items():
            self.out[n]["join_s"] = v

    async def writes(self, until: float, counter: list[int]) -> None:
        """Writes on random live nodes, about 4 per second per system, until ``until``."""
        while time.monotonic() < until:
            k = counter[0] = counter[0] + 1
            i = self.rng.choice(sorted(self.live))
            for d in self.drivers:
                try:
                    if isinstance(d, GossipregHosts):
                        if k % 2:
                            await d.publish(i, f"w{k}")
                        else:
                            await d.set_status(i, f"w{k - 1}", "degraded")
                    elif isinstance(d, SerfHosts):
                        await d.set_tag(i, "w", str(k))  # not the tag propagation times
                except Exception as e:  # a write is best effort; failures are counted
                    self.out[d.name]["write_errors"] = self.out[d.name].get(
                        "write_errors", 0) + 1
                    self.log(f"  {d.name} write failed: {e!r}")
            await asyncio.sleep(0.25)

    async def propagate(self, key: str) -> dict[str, float | None]:
        i = self.rng.choice(sorted(self.live))
        t0 = time.monotonic()
        res: dict[str, float | None] = {}

        async def one(d: HostDriver) -> None:
            await d.publish(i, key)
            while time.monotonic() - t0 < self.s.timeout:
                seen = await asyncio.gather(*(d.sees(j, key) for j in sorted(self.live)),
                                            return_exceptions=True)
                if all(x is True for x in seen):
                    res[d.name] = time.monotonic() - t0
                    return
                await asyncio.sleep(0.1)
            res[d.name] = None

        await asyncio.gather(*(one(d) for d in self.drivers))
        return res

    async def lossy_windows(self) -> None:
        counter = [0]
        for rate in self.s.windows:
            self.lab.set_loss(rate)
            self.note(f"loss {rate:.0%} on every host for {self.s.window:.0f} s, with writes")
            mark = self.mark()
            self.guard(self.live)
            end = time.monotonic() + self.s.window
            wtask = asyncio.create_task(self.writes(end, counter))
            props = [await self.propagate(f"p{rate}-{r}-{self.rng.randrange(10**6)}")
                     for r in range(3)]
            await wtask
            self.guard(set())
            ff = self.false_since(mark)
            self.log(f"  false failures at {rate:.0%}: {ff}; propagation {props}")
            for n in self.out:
                self.out[n][f"false_failures@{rate}"] = ff[n]
                self.out[n][f"propagation_s@{rate}"] = [p.get(n) for p in props]
        self.lab.set_loss(self.s.loss)

    async def kill_restart(self) -> None:
        v = self.rng.choice(sorted(self.live - {0}))
        others = self.live - {v}
        self.guard(others)
        mark = self.mark()
        self.note(f"SIGKILL host {v} (loss {self.s.loss:.0%})")
        t0 = time.monotonic()
        for d in self.drivers:
            d.signal(v, signal.SIGKILL)
        for w in self.watches.values():
            w.running.discard(v)
        det = await self.wait("detection", lambda w, t: w.all_see(others, {v}, "failed", t),
                              t0)
        self.record("detection_s", det)
        self.note(f"restart host {v} on the same address")
        t1 = time.monotonic()
        for d in self.drivers:
            d.start(v, self.seeds(v))
        for w in self.watches.values():
            w.running.add(v)
        self.record("restart_rejoin_s", await self.wait(
            "rejoin", self.all_alive(self.live), t1))
        self.record("false_failures_kill", self.false_since(mark))
        self.guard(set())

    async def kills(self) -> None:
        for _ in range(self.s.kills):
            await self.kill_restart()

    async def partitions(self) -> None:
        for k in range(self.s.partitions):
            hosts = sorted(self.live)
            self.rng.shuffle(hosts)
            cut = (len(hosts) // 2 if self.s.halves
                   else self.rng.randint(len(hosts) // 3, len(hosts) - len(hosts) // 3))
            a, b = set(hosts[:cut]), set(hosts[cut:])
            self.note(f"partition {k + 1}: {sorted(a)} | {sorted(b)}")
            t0 = time.monotonic()
            self.lab.partition([sorted(a), sorted(b)])
            self.record("partition_split_s", await self.wait(
                "split", lambda w, t, a=a, b=b: w.all_see(a, b, "failed", t)
                and w.all_see(b, a, "failed", t), t0))
            await asyncio.sleep(1.0)
            self.note("heal")
            t1 = time.monotonic()
            self.lab.heal()
            self.record("partition_heal_s", await self.wait(
                "heal", self.all_alive(self.live), t1))

    async def one_way(self) -> None:
        hosts = sorted(self.live)
        self.rng.shuffle(hosts)
        a, b = set(hosts[:len(hosts) // 3]), set(hosts[len(hosts) // 3:])
        self.note(f"one-way partition: {sorted(a)} can no longer reach {sorted(b)} "
                  f"for {self.s.hold:.0f} s")
        t0 = time.monotonic()
        self.lab.partition_one_way(src=sorted(a), dst=sorted(b))
        b_sees = self.wait("one-way: B sees A failed",
                           lambda w, t: w.all_see(b, a, "failed", t), t0)
        got = await asyncio.wait_for(b_sees, self.s.timeout + 5)
        await asyncio.sleep(max(0.0, self.s.hold - (time.monotonic() - t0)))
        for n, w in self.watches.items():
            pairs = sum(1 for i in a if (st := w.fresh(i, t0)) is not None
                        for j in b if st.get(w.d.node_name(j)) == "failed")
            self.out[n]["oneway_b_sees_a_failed_s"] = got[n]
            self.out[n]["oneway_a_sees_b_failed_pairs"] = pairs
            self.out[n]["oneway_pairs"] = len(a) * len(b)
        self.note("heal")
        t1 = time.monotonic()
        self.lab.heal()
        for n, v in (await self.wait("one-way heal", self.all_alive(self.live), t1)).items():
            self.out[n]["oneway_heal_s"] = v

    async def isolate(self) -> None:
        x = self.rng.choice(sorted(self.live))
        others = self.live - {x}
        self.note(f"isolate host {x}")
        t0 = time.monotonic()
        self.lab.isolate(x)
        det = await self.wait("isolation seen", lambda w, t: w.all_see(others, {x}, "failed",
                                                                       t), t0)
        for n, v in det.items():
            self.out[n]["isolation_detected_s"] = v
        self.note("heal")
        t1 = time.monotonic()
        self.lab.heal()
        for n, v in (await self.wait("isolation heal", self.all_alive(self.live), t1)).items():
            self.out[n]["isolation_heal_s"] = v

    async def stop_cont(self) -> None:
        x = self.rng.choice(sorted(self.live - {0}))
        self.guard(set(self.live))
        mark = self.mark()
        self.note(f"SIGSTOP host {x} for {self.s.pause:.0f} s, then SIGCONT")
        for d in self.drivers:
            d.signal(x, signal.SIGSTOP)
        await asyncio.sleep(self.s.pause)
        for d in self.drivers:
            d.signal(x, signal.SIGCONT)
        await asyncio.sleep(10.0)
        for n, v in self.false_since(mark).items():
            self.out[n]["false_failures_stop"] = v
        self.guard(set())

    async def play(self) -> dict[str, Any]:
        try:
            await self.join()
            self.lab.set_loss(self.s.loss)
            steps = [("loss", self.lossy_windows), ("kill", self.kills),
                     ("partition", self.partitions), ("oneway", self.one_way),
                     ("isolate", self.isolate), ("stop", self.stop_cont)]
            for name, step in steps:
                if name in self.s.steps:
                    await step()
        finally:
            for w in self.watches.values():
                await w.stop()
        for o in self.out.values():
            for key in ("partition_split_s", "partition_heal_s", "detection_s",
                        "restart_rejoin_s"):
                if key in o:
                    o[key] = _spread(o[key])
            if "false_failures_kill" in o:
                o["false_failures_kill"] = sum(o["false_failures_kill"])
        return {"schedule": {k: (sorted(v) if isinstance(v, frozenset) else v)
                             for k, v in vars(self.s).items()},
                "faults": self.faults_log, "systems": self.out}


def _fmt(v: float | None) -> str:
    return "timeout" if v is None else f"{v:.2f} s"


async def play(lab: NetLab, drivers: list[HostDriver], schedule: Schedule, log: Log
               ) -> dict[str, Any]:
    """Play ``schedule`` on ``drivers`` (all on ``lab``'s hosts); every figure, per system."""
    return await _Run(lab, drivers, schedule, log).play()
