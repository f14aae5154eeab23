"""The two systems on emulated hosts: host ``i`` of a :class:`~sim.mesh.netns.NetLab` runs one
gossipreg node (``gossipreg node``, port 7946) and/or one Serf agent (gossip on 7947, RPC on
7373), each bound to the host's own address. The harness reads and writes them from the hub
(the harness process enters it), so its own traffic is exempt from every fault.

Both drivers offer the same small surface: ``start(i)``, ``signal(i, sig)``, ``pid(i)``,
``states(i)`` (``{node name: alive|failed|left}`` as node ``i`` sees it), ``publish(i, key)``
and ``sees(i, key)`` (a piece of metadata: an agent for gossipreg, a tag for Serf).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal as _signal
import subprocess
import sys
from typing import Any

import aiohttp

from sim.mesh.drivers import SerfRpc
from sim.mesh.netns import NetLab

__all__ = ["GOSSIP_PORT", "GossipregHosts", "HostDriver", "SerfHosts"]

GOSSIP_PORT = 7946
SERF_PORT = 7947
SERF_RPC_PORT = 7373
_STATE = {"alive": "alive", "suspect": "alive", "dead": "failed", "left": "left"}


class HostDriver:
    """What both systems share: one process per host, started through the lab."""

    name = ""

    def __init__(self, lab: NetLab, n: int) -> None:
        self.lab = lab
        self.n = n
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def node_name(self, i: int) -> str:
        return f"{self.name[0]}{i}"

    def cmd(self, i: int, seeds: list[int]) -> list[str]:
        raise NotImplementedError

    def start(self, i: int, seeds: list[int]) -> None:
        """Start (or restart, on the same address) the process of host ``i``."""
        old = self.procs.get(i)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{self.name} {i} is still running")
        self.procs[i] = self.lab.popen(i, self.cmd(i, seeds), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)

    def pid(self, i: int) -> int:
        return self.procs[i].pid

    def signal(self, i: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.procs[i].pid, sig)
        if sig == _signal.SIGKILL:
            self.procs[i].wait(10)

    async def states(self, i: int) -> dict[str, str]:
        raise NotImplementedError

    async def publish(self, i: int, key: str) -> None:
        raise NotImplementedError

    async def sees(self, i: int, key: str) -> bool:
        raise NotImplementedError

    async def ready(self, i: int) -> bool:
        """Whether host ``i``'s process answers its API."""
        try:
            await self.states(i)
            return True
        except (OSError, ConnectionError, TimeoutError, RuntimeError, aiohttp.ClientError):
            return False

    async def close(self) -> None:
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, _signal.SIGCONT)
                os.kill(p.pid, _signal.SIGKILL)
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)


class GossipregHosts(HostDriver):
    """``gossipreg node`` processes, LAN profile (Serf's LAN timing), read over HTTP."""

    name = "gossipreg"

    def __init__(self, lab: NetLab, n: int, profile: str = "lan",
                 overrides: list[str] | None = None,
                 trace: dict[int, str] | None = None, trace_every: float = 180.0,
                 trace_frames: int = 0) -> None:
        super().__init__(lab, n)
        self.profile = profile
        self.overrides = overrides or []  # FIELD=VALUE config overrides (harness runner)
        # Debug: host -> file for tracemalloc's allocation sites (node_main --trace).
        self.trace = trace or {}
        self.trace_every = trace_every
        self.trace_frames = trace_frames  # 0: object types only, no tracemalloc
        self._session: aiohttp.ClientSession | None = None

    def addr(self, i: int) -> str:
        return f"{self.lab.addr(i)}:{GOSSIP_PORT}"

    def cmd(self, i: int, seeds: list[int]) -> list[str]:
        prog = (["sim.mesh.node_main"] + [f"--set={o}" for o in self.overrides]
                if self.overrides else ["gossipreg", "node"])
        out = [sys.executable, "-m", *prog, "--name", self.node_name(i),
               "--bind", self.addr(i), "--profile", self.profile]
        if not self.overrides:  # as the run driver: no embedder, what a default install runs
            out += ["--embedder", "off"]
        for s in seeds:
            out += ["--join", self.addr(s)]
        if i in self.trace and not self.overrides:  # the product's node under the tracer
            out[2:4] = ["sim.mesh.node_main", *self._trace_args(i), "--cli", "node"]
        elif i in self.trace:
            out += self._trace_args(i)
        return out

    def _trace_args(self, i: int) -> list[str]:
        return [f"--trace={self.trace[i]}", f"--trace-every={self.trace_every}",
                f"--trace-frames={self.trace_frames}"]

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=1.5),
                connector=aiohttp.TCPConnector(limit_per_host=2, keepalive_timeout=60))
        return self._session

    async def _get(self, i: int, path: str) -> Any:
        async with self.session.get(f"http://{self.addr(i)}{path}") as r:
            return await r.json() if r.status == 200 else None

    async def states(self, i: int) -> dict[str, str]:
        rows = await self._get(i, "/v1/members")
        if rows is None:
            raise RuntimeError("no member list")
        return {r["node_id"]: _STATE[r["state"]] for r in rows}

    async def publish(self, i: int, key: str) -> None:
        async with self.session.post(f"http://{self.addr(i)}/v1/agents", json={
                "agent_id": key, "name": key, "runtime_id": "bench",
                "capabilities": ["benchmark"]}) as r:
            r.raise_for_status()

    async def set_status(self, i: int, key: str, status: str) -> None:
        async with self.session.put(f"http://{self.addr(i)}/v1/agents/{key}/status",
                                    json={"status": status}) as r:
            await r.read()

    async def deregister(self, i: int, key: str) -> None:
        async with self.session.delete(f"http://{self.addr(i)}/v1/agents/{key}") as r:
            await r.read()

    async def sees(self, i: int, key: str) -> bool:
        return await self._get(i, f"/v1/agents/{key}") is not None

    async def close(self) -> None:
        await super().close()
        if self._session is not None:
            await self._session.close()


class SerfHosts(HostDriver):
    """``serf agent`` processes with default LAN timing, read over Serf's msgpack RPC."""

    name = "serf"

    def __init__(self, lab: NetLab, n: int, binary: str) -> None:
        super().__init__(lab, n)
        self.binary = binary
        self.rpcs: dict[int, SerfRpc] = {}

    def cmd(self, i: int, seeds: list[int]) -> list[str]:
        out = [self.binary, "agent", f"-node={self.node_name(i)}",
               f"-bind={self.lab.addr(i)}:{SERF_PORT}",
               f"-rpc-addr={self.lab.addr(i)}:{SERF_RPC_PORT}", "-log-level=err"]
        out += [f"-join={self.lab.addr(s)}:{SERF_PORT}" for s in seeds]
        return out

    def start(self, i: int, seeds: list[int]) -> None:
        old = self.rpcs.pop(i, None)
        if old is not None:
            old.drop()
        super().start(i, seeds)

    async def _call(self, i: int, command: str, body: dict[str, Any] | None,
                    reply: bool) -> Any:
        rpc = self.rpcs.get(i)
        if rpc is None:
            rpc = self.rpcs[i] = SerfRpc(self.lab.addr(i), SERF_RPC_PORT)
        try:
            return await asyncio.wait_for(rpc.call(command, body, reply), 1.5)
        except BaseException:
            rpc.drop()  # a half-read answer would desynchronise the stream
            self.rpcs.pop(i, None)
            raise

    async def states(self, i: int) -> dict[str, str]:
        body = await self._call(i, "members", None, True)
        return {m["Name"]: m["Status"] for m in body["Members"]}

    async def publish(self, i: int, key: str) -> None:
        # One tag rewritten (Serf caps a member's tags at 512 bytes).
        await self._call(i, "tags", {"Tags": {"p": key}, "DeleteTags": []}, False)

    async def set_tag(self, i: int, name: str, value: str) -> None:
        await self._call(i, "tags", {"Tags": {name: value}, "DeleteTags": []}, False)

    async def sees(self, i: int, key: str) -> bool:
        body = await self._call(i, "members", None, True)
        return any((m.get("Tags") or {}).get("p") == key for m in body["Members"])

    async def close(self) -> None:
        for r in self.rpcs.values():
            r.drop()
        await super().close()
