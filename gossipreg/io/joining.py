"""Joining out loud: resolve seeds, say why each join attempt failed, warn while alone.

The core retries joins on its own timer; this watcher runs beside it in the runner and
- resolves seed names again before every attempt (a DNS name with several A/AAAA records, such
  as a Kubernetes headless service, yields every address; IP literals are kept as they are),
- logs one warning per failed attempt per seed with its reason (connection refused, timeout,
  "refused: bad_mac" when the seed's keyring rejects ours, ...),
- logs "still alone after N s" every ``ALONE_WARNING_PERIOD`` while no seed answered (or, once
  joined, while no other member is alive),
- logs the refusal of a duplicate name once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from typing import Protocol

from gossipreg.core.config import NodeConfig
from gossipreg.core.node import Node
from gossipreg.io.net.transport import Transport
from gossipreg.io.validate import format_hostport, split_hostport

__all__ = ["ALONE_WARNING_PERIOD", "TOLD_SENDER", "JoinWatch", "Joiner", "join_wait",
           "resolve_seeds"]


class Joiner(Protocol):
    """What the watcher needs of the node it watches (the runner that owns it)."""

    config: NodeConfig
    seeds: list[str]
    transport: Transport

    @property
    def core(self) -> Node: ...
    @property
    def started_core(self) -> Node | None: ...

log = logging.getLogger("gossipreg.io.joining")

ALONE_WARNING_PERIOD = 10.0


def join_wait(config: NodeConfig) -> float:
    """How long a start waits for a seed's answer by default: 5 s, or three join attempts
    when they are further apart (15 s on the wan profile)."""
    return max(5.0, 3 * config.join_retry_interval)

# Codec drops the sender is told about (HTTP 403 with the reason): configuration mismatches
# it can do nothing else about.
TOLD_SENDER = frozenset({"bad_mac", "unsigned", "unexpected_signature", "bad_cluster",
                         "bad_version", "key_mismatch"})

# What a refusal reason means, for the joiner's warning.
_REFUSALS = {
    "bad_mac": "our key is not in the seed's keyring",
    "unsigned": "the seed requires a key file (--key-file) and we have none",
    "unexpected_signature": "we sign with a key but the seed has no key file",
    "bad_cluster": "the seed belongs to another cluster (--cluster)",
    "bad_version": "the seed speaks another protocol version",
    "duplicate_name": "the seed knows another live node with our name",
    "unspecified_address": "we advertise an unspecified address",
    "key_mismatch": "the seed pinned another identity key for our name (our key changed "
                    "without a rotation): restore the key file, or run `gossipreg admin "
                    "forget-node NAME` on each node that refuses us",
}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dns_names(seeds: list[str]) -> bool:
    """Whether some seed is a host name to resolve (not over an in-memory network, whose
    addresses are node names without a port)."""
    try:
        return any(not _is_ip(split_hostport(s)[0]) for s in seeds)
    except ValueError:
        return False


async def resolve_seeds(seeds: list[str]) -> tuple[list[str], dict[str, str]]:
    """Every address of every seed (``host:port``), and why the seeds that did not resolve
    failed."""
    loop = asyncio.get_running_loop()
    out: list[str] = []
    errors: dict[str, str] = {}
    for seed in seeds:
        host, port = split_hostport(seed)
        if _is_ip(host):
            out.append(format_hostport(host, port))
            continue
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            errors[seed] = f"cannot resolve {host}: {e.strerror or e}"
            continue
        for _, _, _, _, sockaddr in infos:
            out.append(format_hostport(str(sockaddr[0]), port))
    return list(dict.fromkeys(out)), errors


class JoinWatch:
    """The join-side diagnostics of one :class:`Joiner`."""

    def __init__(self, node: Joiner) -> None:
        self.node = node
        self.last_errors: dict[str, str] = {}  # seed address -> why the last attempt failed
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self._refusal_logged = False
        self._key_refused: set[str] = set()  # peers that refused our identity key (logged)

    def start(self) -> None:
        self._started = time.monotonic()
        self.node.transport.on_send_error = self.send_failed
        if not self.node.seeds:
            return  # nothing to join, nobody to be isolated from
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def send_failed(self, dest: str, reason: str) -> None:
        core = self.node.started_core
        if reason == "refused: key_mismatch" and dest not in self._key_refused:
            # Joined or not: a peer that pinned another key for our name ignores us.
            self._key_refused.add(dest)
            log.error("%s refuses this node: %s", dest, _REFUSALS["key_mismatch"])
        if core is None or core.joined or dest not in core.seeds:
            return
        if reason.startswith("refused: "):
            label = reason[len("refused: "):]
            reason = f"{reason} ({_REFUSALS[label]})" if label in _REFUSALS else reason
        self.last_errors[dest] = reason
        log.warning("join attempt %d to seed %s failed: %s",
                    core.read.metrics().join_attempts, dest, reason)

    def describe(self) -> str:
        """Why we are not joined, in one line: each seed's last failure."""
        core = self.node.core
        if core.join_refused:
            return core.join_refused
        seeds = list(dict.fromkeys([*self.last_errors, *core.seeds]))
        if not seeds:
            return f"no answer from seeds {', '.join(self.node.seeds)}"
        return "; ".join(f"{s}: {self.last_errors.get(s, 'no answer')}" for s in seeds)

    def refusal(self) -> str | None:
        """Why the seeds refused us, once they all did (our name is taken; our key, cluster
        or protocol version is not theirs), else None: no answer is not a refusal."""
        core = self.node.core
        if core.join_refused:
            return core.join_refused
        seeds = core.seeds
        if seeds and all(self.last_errors.get(s, "").startswith("refused: ") for s in seeds):
            return "; ".join(f"{s}: {self.last_errors[s]}" for s in seeds)
        return None

    async def _run(self) -> None:
        node = self.node
        interval = node.config.join_retry_interval
        next_alone = self._started + ALONE_WARNING_PERIOD
        names = _dns_names(node.seeds)
        while True:
            core = node.core
            if core.join_refused and not self._refusal_logged:
                self._refusal_logged = True
                log.error("join refused: %s; this node will not join until restarted with "
                          "another --name", core.join_refused)
            if names and not core.joined and not core.join_refused:
                addrs, errors = await resolve_seeds(node.seeds)
                for seed, why in errors.items():
                    log.warning("join: seed %s: %s", seed, why)
                self.last_errors.update(errors)
                if addrs:
                    core.set_seeds(addrs)
            now = time.monotonic()
            alone = not core.joined or (bool(node.seeds) and not core.read.has_live_peers())
            if alone and now >= next_alone and not core.left and not core.join_refused:
                what = ("no seed answered" if not core.joined
                        else "no other member is alive")
                log.warning("still alone after %d s: %s (%s)", now - self._started, what,
                            self.describe() if not core.joined else "isolated")
                next_alone = now + ALONE_WARNING_PERIOD
            elif not alone:
                next_alone = now + ALONE_WARNING_PERIOD
            await asyncio.sleep(interval)
