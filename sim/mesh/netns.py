"""Emulated hosts for the harness: one Linux network namespace per host on a shared bridge.

Layout of a :class:`NetLab` with N hosts (root only; needs ``ip`` from iproute2 and ``nft``)::

    hub namespace  grns-<pid>-hub : bridge ``br0`` 198.18.0.1/15, veths ``v0`` .. ``vN-1``
    host namespace grns-<pid>-h<i>: ``eth0`` (peer of ``v<i>``) 198.18.0.<10+i>/15 (and up), ``lo``

Rules this module keeps:

- Addresses come from 198.18.0.0/15 (reserved for benchmarking) and exist only inside the
  namespaces it creates: nothing is added to the caller's namespace, no traffic leaves it.
- Every name carries the creating process's pid. :func:`remove_stale` (run by every new lab)
  deletes the namespaces, and kills the processes inside them, of labs whose creator is dead,
  so a crashed harness leaves nothing behind past the next start; a live lab is closed at exit
  and on SIGINT/SIGTERM/SIGHUP.
- Faults are nftables rules in one table (``inet grfault``) per host namespace, rewritten
  atomically from a declarative :class:`Faults` value: loss is applied on input only, so a
  packet between two hosts is dropped at most once with the given probability; the hub's
  address is always accepted, so the harness's own client (in the hub) is exempt from faults.
- ``/etc/netns/<ns>/hosts`` files (:meth:`NetLab.set_hosts`) are seen by processes started
  through :meth:`NetLab.popen` / :meth:`NetLab.run` (``ip netns exec`` bind-mounts them).

Typical use::

    with NetLab(3) as lab:
        lab.enter_hub()                      # this thread's sockets now live in the hub
        p = lab.popen(0, ["python", "-m", "http.server", "--bind", lab.addr(0), "8000"])
        lab.set_faults(1, Faults(loss=0.1, drop_from={lab.addr(2)}))
        lab.partition([[0], [1, 2]])         # two-way; lab.partition_one_way(src, dst) one way
        lab.heal()
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["HUB_ADDR", "PREFIX", "Faults", "NetLab", "missing", "remove_stale"]

PREFIX = "grns"
NET = ipaddress.ip_network("198.18.0.0/15")
HUB_ADDR = "198.18.0.1"
_FIRST_HOST = 10
_CLONE_NEWNET = 0x40000000
_TABLE = "grfault"
_NAME = re.compile(rf"^{PREFIX}-(\d+)-")


def missing() -> str | None:
    """Why a lab cannot be built here (not root, a tool missing), or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"'{tool}' not found (apt-get install -y {pkg})"
    return None


def _sh(*cmd: str, input: str | None = None, check: bool = True) -> str:
    p = subprocess.run(list(cmd), input=input, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip() or p.returncode}")
    return p.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _sh("ip", "netns", "list", check=False).splitlines()
            if line.strip()]


def _destroy(ns: str) -> None:
    """Kill every process in ``ns``, delete it and its /etc/netns folder."""
    for pid in _sh("ip", "netns", "pids", ns, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    _sh("ip", "netns", "del", ns, check=False)
    shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def remove_stale() -> list[str]:
    """Delete the namespaces of labs whose creating process is gone; returns their names."""
    gone = []
    for ns in _namespaces():
        m = _NAME.match(ns)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            _destroy(ns)
            gone.append(ns)
    return gone


@dataclass(frozen=True)
class Faults:
    """The faults of one host, applied to packets it receives (``drop_from``, ``loss``) and,
    for isolation, also to those it sends. The hub is always exempt."""

    loss: float = 0.0                                      # probability a packet is dropped
    drop_from: frozenset[str] = field(default_factory=frozenset)  # source addresses cut off
    isolated: bool = False                                 # cut off from every other host

    def rules(self) -> str:
        """The nftables script that replaces this host's fault table."""
        inp = ["iif lo accept", f"ip saddr {HUB_ADDR} accept"]
        out = ["oif lo accept", f"ip daddr {HUB_ADDR} accept"]
        if self.isolated:
            inp.append("drop")
            out.append("drop")
        if self.drop_from:
            inp.append(f"ip saddr {{ {', '.join(sorted(self.drop_from))} }} drop")
        permille = round(self.loss * 1000)
        if permille > 0:
            inp.append(f"numgen random mod 1000 < {permille} drop")
        body = "".join(f"    {r}\n" for r in inp)
        body_out = "".join(f"    {r}\n" for r in out)
        return (f"add table inet {_TABLE}\ndelete table inet {_TABLE}\n"
                f"table inet {_TABLE} {{\n"
                f"  chain input {{\n    type filter hook input priority 0; policy accept;\n"
                f"{body}  }}\n"
                f"  chain output {{\n    type filter hook output priority 0; policy accept;\n"
                f"{body_out}  }}\n}}\n")


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the child gets SIGKILL when the harness dies, even by kill -9.
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


class NetLab:
    """A hub namespace with a bridge and ``hosts`` host namespaces, each one veth into it.

    Host ``i`` is addressed by its index everywhere; :meth:`addr` gives its IPv4 address and
    :meth:`ns` its namespace name. ``close()`` (also at exit and on signals) tears it all down.
    """

    def __init__(self, hosts: int, *, handle_signals: bool = True) -> None:
        why = missing()
        if why is not None:
            raise RuntimeError(f"cannot build a network lab: {why}")
        if not 1 <= hosts <= 1000:
            raise ValueError("hosts must be between 1 and 1000")
        self.hosts = hosts
        self.tag = f"{PREFIX}-{os.getpid()}"
        self.hub = f"{self.tag}-hub"
        self._faults: dict[int, Faults] = {}
        self._made: list[str] = []
        self._home: int | None = None
        self._prev: dict[int, Any] = {}
        remove_stale()
        for ns in _namespaces():  # a lab this process closed badly before
            if ns.startswith(self.tag + "-"):
                _destroy(ns)
        atexit.register(self.close)
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._prev[sig] = signal.signal(sig, self._on_signal)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- layout -----------------------------------------------------------------------------

    def ns(self, i: int) -> str:
        """Namespace name of host ``i``."""
        return f"{self.tag}-h{i}"

    def addr(self, i: int) -> str:
        """IPv4 address of host ``i`` (inside its namespace only)."""
        if not 0 <= i < self.hosts:
            raise IndexError(f"no host {i} in a lab of {self.hosts}")
        return str(NET.network_address + _FIRST_HOST + i)

    def _add_ns(self, name: str) -> None:
        _sh("ip", "netns", "add", name)
        self._made.append(name)
        _sh("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        self._add_ns(self.hub)
        h = ("ip", "-n", self.hub)
        _sh(*h, "link", "add", "br0", "type", "bridge")
        _sh(*h, "addr", "add", f"{HUB_ADDR}/{NET.prefixlen}", "dev", "br0")
        _sh(*h, "link", "set", "br0", "up")
        for i in range(self.hosts):
            name = self.ns(i)
            self._add_ns(name)
            _sh(*h, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
                "netns", name)
            _sh(*h, "link", "set", f"v{i}", "master", "br0", "up")
            _sh("ip", "-n", name, "addr", "add", f"{self.addr(i)}/{NET.prefixlen}", "dev",
                "eth0")
            _sh("ip", "-n", name, "link", "set", "eth0", "up")
            self.set_faults(i, Faults())

    # -- processes --------------------------------------------------------------------------

    def enter_hub(self) -> None:
        """Move the calling thread (and the threads it starts later) into the hub namespace,
        where every host is reachable and no fault applies; :meth:`leave_hub` goes back."""
        if self._home is None:
            self._home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net",
                                 os.O_RDONLY)
        _setns(f"/run/netns/{self.hub}")

    def leave_hub(self) -> None:
        """Return the calling thread to the namespace it was in before :meth:`enter_hub`."""
        if self._home is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(self._home, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns(home)")
            os.close(self._home)
            self._home = None

    def _exec(self, where: int | str, cmd: Sequence[str]) -> list[str]:
        name = (self.hub if where == "hub" else where) if isinstance(where, str) \
            else self.ns(where)
        return ["ip", "netns", "exec", name, *cmd]

    def popen(self, where: int | str, cmd: Sequence[str], **kw: Any
              ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in host ``where`` (an index, ``"hub"``, or a namespace name);
        the process is killed when this harness dies, and by :meth:`close`."""
        kw.setdefault("preexec_fn", _die_with_parent)
        return subprocess.Popen(self._exec(where, cmd), **kw)

    def run(self, where: int | str, cmd: Sequence[str], timeout: float = 30.0
            ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` to completion in host ``where``; output captured as text."""
        return subprocess.run(self._exec(where, cmd), capture_output=True, text=True,
                              timeout=timeout)

    def set_hosts(self, i: int, entries: dict[str, Iterable[str]]) -> None:
        """Give host ``i`` its own /etc/hosts: ``{name: [address, ...]}`` (a name may have
        several addresses); seen by processes started after the call."""
        lines = ["127.0.0.1 localhost", f"{self.addr(i)} {self.ns(i)}"]
        lines += [f"{a} {name}" for name, addrs in entries.items() for a in addrs]
        os.makedirs(f"/etc/netns/{self.ns(i)}", exist_ok=True)
        with open(f"/etc/netns/{self.ns(i)}/hosts", "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- faults -----------------------------------------------------------------------------

    def faults(self, i: int) -> Faults:
        """The faults host ``i`` has now."""
        return self._faults[i]

    def set_faults(self, i: int, faults: Faults) -> None:
        """Replace host ``i``'s fault rules atomically."""
        _sh("ip", "netns", "exec", self.ns(i), "nft", "-f", "-", input=faults.rules())
        self._faults[i] = faults

    def nft(self, i: int, script: str) -> str:
        """Run a raw nftables script in host ``i`` (for rules :class:`Faults` lacks); a later
        :meth:`set_faults` replaces only the ``grfault`` table."""
        return _sh("ip", "netns", "exec", self.ns(i), "nft", "-f", "-", input=script)

    def _update(self, i: int, **changes: Any) -> None:
        cur = self._faults[i]
        self.set_faults(i, Faults(**{"loss": cur.loss, "drop_from": cur.drop_from,
                                     "isolated": cur.isolated, **changes}))

    def set_loss(self, loss: float, hosts: Iterable[int] | None = None) -> None:
        """Random loss on input of ``hosts`` (default all)."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss must be between 0 and 1")
        for i in range(self.hosts) if hosts is None else hosts:
            self._update(i, loss=loss)

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Two-way partition: no packet passes between hosts of different groups (hosts in
        no group keep talking to everyone). Replaces earlier partitions; loss stays."""
        where = {i: g for g, members in enumerate(groups) for i in members}
        for i in range(self.hosts):
            cut = frozenset(self.addr(j) for j in where
                            if i in where and where[j] != where[i])
            self._update(i, drop_from=cut)

    def partition_one_way(self, src: Iterable[int], dst: Iterable[int]) -> None:
        """One-way partition: packets from ``src`` hosts no longer reach ``dst`` hosts (the
        other direction still works). Adds to the cuts already in place."""
        cut = frozenset(self.addr(j) for j in src)
        for i in dst:
            self._update(i, drop_from=self._faults[i].drop_from | cut)

    def isolate(self, i: int, on: bool = True) -> None:
        """Cut host ``i`` off from every other host, both ways (the hub still reaches it)."""
        self._update(i, isolated=on)

    def heal(self, keep_loss: bool = True) -> None:
        """Remove every partition and isolation; with ``keep_loss=False`` the loss too."""
        for i in range(self.hosts):
            self.set_faults(i, Faults(loss=self._faults[i].loss if keep_loss else 0.0))

    def counters(self, i: int) -> str:
        """The fault table of host ``i`` as nft lists it (for debugging)."""
        return _sh("ip", "netns", "exec", self.ns(i), "nft", "list", "table", "inet", _TABLE)

    # -- teardown ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.close()
        prev = self._prev.get(signum)
        if callable(prev):
            prev(signum, frame)
        raise SystemExit(128 + signum)

    def close(self) -> None:
        """Kill every process inside the lab's namespaces and delete them (idempotent)."""
        with contextlib.suppress(OSError):
            self.leave_hub()
        for name in reversed(self._made):
            _destroy(name)
        self._made.clear()
        for sig, prev in self._prev.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, prev)
        self._prev.clear()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
