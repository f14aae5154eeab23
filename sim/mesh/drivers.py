"""How the harness drives each system: start a node, read its membership, publish and look up
one piece of metadata. Both are driven as real processes over loopback.

- gossipreg: ``python -m gossipreg node`` processes, read and written over their HTTP API; the
  metadata is an agent registration.
- Serf: ``serf agent`` processes (default LAN profile), read and written over Serf's msgpack RPC
  protocol (handshake, members, tags); the metadata is a tag.

Node 0 is the seed every other node joins. ``start(0)`` returns once the seed listens (a
gossipreg node prints "listening on"; a Serf agent opens its RPC port after its gossip port), so
no node is started before the address it joins answers: a Serf agent whose startup join is
refused exits. Ports come from one :class:`~sim.mesh.procs.PortPool` per driver; a node that
cannot bind its port while the harness waits for it is started again on fresh ports.
``check()`` raises :class:`~sim.mesh.procs.ProcessDied`, with the process's own output, when a
node the harness did not kill has exited.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import sys
from typing import Any, Protocol

import aiohttp
import msgpack

from sim.mesh.procs import Children, PortPool, ProcessDied, accepts

__all__ = ["Driver", "GossipregDriver", "SerfDriver", "SerfRpc", "ensure_serf"]

BIND_RETRIES = 3


def _in_use(e: ProcessDied) -> bool:
    return "address already in use" in str(e).lower()


class Driver(Protocol):
    name: str
    pids: list[int]

    def start(self, i: int) -> None: ...
    def check(self) -> None: ...
    async def states(self, i: int) -> dict[str, str]: ...
    async def publish(self, i: int, key: str) -> None: ...
    async def sees(self, i: int, key: str) -> bool: ...
    def node_name(self, i: int) -> str: ...
    async def close(self) -> None: ...


class GossipregDriver:
    """gossipreg nodes, LAN profile (the same timing as Serf's LAN profile)."""

    name = "gossipreg"

    def __init__(self, children: Children, profile: str = "lan",
                 ports: PortPool | None = None) -> None:
        self.children = children
        self.profile = profile
        self.ports = ports or PortPool()
        self.addrs: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.session: aiohttp.ClientSession | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def node_name(self, i: int) -> str:
        return f"g{i}"

    def start(self, i: int) -> None:
        """Start node ``i`` and wait until it listens (a restart keeps its address)."""
        restart = i < len(self.procs)
        for attempt in range(1 if restart else BIND_RETRIES):
            addr = self.addrs[i] if restart else f"127.0.0.1:{self.ports.take()}"
            # No embedder: what a default install runs (the semantic extra's local model is
            # an option, ~70 MB more per process, and no part of the gossip compared here).
            cmd = [sys.executable, "-m", "gossipreg", "node", "--name", self.node_name(i),
                   "--bind", addr, "--profile", self.profile, "--embedder", "off"]
            if i > 0:
                cmd += ["--join", self.addrs[0]]
            try:
                proc = self.children.start(cmd, ready="listening on", label=self.node_name(i))
                break
            except ProcessDied as e:
                if restart or not _in_use(e) or attempt == BIND_RETRIES - 1:
                    raise
        if restart:  # same name and address, new generation
            self.procs[i] = proc
        else:
            self.procs.append(proc)
            self.addrs.append(addr)

    def check(self) -> None:
        self.children.check(self.procs)

    async def _get(self, i: int, path: str) -> Any:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        async with self.session.get(f"http://{self.addrs[i]}{path}") as r:
            return await r.json() if r.status == 200 else None

    async def states(self, i: int) -> dict[str, str]:
        rows = await self._get(i, "/v1/members")
        return {r["node_id"]: {"alive": "alive", "suspect": "alive", "dead": "failed",
                               "left": "left"}[r["state"]] for r in rows or ()}

    async def publish(self, i: int, key: str) -> None:
        assert self.session is not None
        async with self.session.post(f"http://{self.addrs[i]}/v1/agents", json={
                "agent_id": key, "name": key, "runtime_id": "bench",
                "capabilities": ["benchmark"]}) as r:
            r.raise_for_status()

    async def sees(self, i: int, key: str) -> bool:
        return await self._get(i, f"/v1/agents/{key}") is not None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class SerfRpc:
    """A minimal client of Serf's RPC protocol (msgpack header + body over TCP)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.seq = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.unpacker = msgpack.Unpacker(raw=False)
        self._lock = asyncio.Lock()  # one call at a time: answers come in order

    async def _next(self) -> Any:
        assert self.reader is not None
        while True:
            for obj in self.unpacker:
                return obj
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("serf closed the RPC connection")
            self.unpacker.feed(data)

    async def call(self, command: str, body: dict[str, Any] | None,
                   has_reply: bool) -> Any:
        async with self._lock:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                await self._send("handshake", {"Version": 1}, False)
            return await self._send(command, body, has_reply)

    async def _send(self, command: str, body: dict[str, Any] | None, has_reply: bool) -> Any:
        assert self.writer is not None
        self.seq += 1
        data = msgpack.packb({"Command": command, "Seq": self.seq})
        if body is not None:
            data += msgpack.packb(body)
        self.writer.write(data)
        await self.writer.drain()
        header = await self._next()
        if header.get("Error"):
            raise RuntimeError(f"serf {command}: {header['Error']}")
        return await self._next() if has_reply else None

    async def close(self) -> None:
        self.drop()

    def drop(self) -> None:
        """Close the connection without waiting (the next call opens a new one)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.reader = None
            self.unpacker = msgpack.Unpacker(raw=False)


def ensure_serf() -> str | None:
    """The serf binary, installed from Debian's package when missing and possible; None (with
    the reason printed) when it cannot be had."""
    path = shutil.which("serf")
    if path:
        return path
    if shutil.which("apt-get") is None:
        print("serf: not installed and no apt-get here; skipping the Serf side")
        return None
    print("serf: installing the Debian package 'serf' (apt-get install -y serf)...", flush=True)
    ok = subprocess.run("apt-get update -qq && apt-get install -y -qq serf", shell=True,
                        capture_output=True).returncode == 0
    path = shutil.which("serf")
    if not ok or path is None:
        print("serf: could not be installed; skipping the Serf side")
        return None
    return path


class SerfDriver:
    """Serf agents with default LAN timing."""

    name = "serf"

    def __init__(self, children: Children, binary: str, ports: PortPool | None = None) -> None:
        self.children = children
        self.binary = binary
        self.ports = ports or PortPool()
        self.binds: list[str] = []
        self.rpcs: list[SerfRpc] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def node_name(self, i: int) -> str:
        return f"s{i}"

    def start(self, i: int) -> None:
        """Start agent ``i`` (in order, from 0). The seed (the first) is waited for until its
        RPC port answers, which Serf opens after its gossip port and before any join; the
        others are not waited for, so their startup joins overlap as before and the join
        figure (timed from the last start) is unchanged."""
        if i != len(self.procs):
            raise ValueError(f"serf agents start once each, in order: {i} after "
                             f"{len(self.procs)}")
        seed = not self.binds
        for attempt in range(BIND_RETRIES if seed else 1):
            bind = f"127.0.0.1:{self.ports.take(udp=True)}"  # memberlist: TCP and UDP
            rpc = self.ports.take()
            cmd = [self.binary, "agent", f"-node={self.node_name(i)}", f"-bind={bind}",
                   f"-rpc-addr=127.0.0.1:{rpc}", "-log-level=err"]
            if not seed:
                cmd.append(f"-join={self.binds[0]}")
            ready = functools.partial(accepts, "127.0.0.1", rpc) if seed else None
            try:
                proc = self.children.start(cmd, ready=ready, label=self.node_name(i))
                break
            except ProcessDied as e:
                if not _in_use(e) or attempt == BIND_RETRIES - 1:
                    raise
        self.procs.append(proc)
        self.binds.append(bind)
        self.rpcs.append(SerfRpc("127.0.0.1", rpc))

    def check(self) -> None:
        self.children.check(self.procs)

    async def _call(self, i: int, command: str, body: dict[str, Any] | None,
                    reply: bool) -> Any:
        for attempt in range(50):  # the RPC port opens a moment after start
            try:
                return await self.rpcs[i].call(command, body, reply)
            except (ConnectionError, OSError):
                self.children.check([self.procs[i]])  # a dead agent: its output, not a retry
                self.rpcs[i] = SerfRpc("127.0.0.1", self.rpcs[i].port)
                await asyncio.sleep(0.1 if attempt < 49 else 0)
        raise ConnectionError(f"serf node {i} RPC unreachable (its process is running)")

    async def states(self, i: int) -> dict[str, str]:
        body = await self._call(i, "members", None, True)
        return {m["Name"]: m["Status"] for m in body["Members"]}

    async def publish(self, i: int, key: str) -> None:
        await self._call(i, "tags", {"Tags": {key: "1"}, "DeleteTags": []}, False)

    async def sees(self, i: int, key: str) -> bool:
        body = await self._call(i, "members", None, True)
        return any(key in (m.get("Tags") or {}) for m in body["Members"])

    async def close(self) -> None:
        for r in self.rpcs:
            await r.close()
