"""Choosing the address to advertise when a node binds to every interface.

``--bind 0.0.0.0:7946`` (or ``[::]:7946``) listens everywhere, but peers cannot dial
``0.0.0.0``. Without ``--advertise`` the node advertises, in this order:

1. the local address of the route towards the first seed that resolves (a connected UDP socket
   asks the kernel's routing table; connecting a datagram socket sends nothing);
2. the first global, non-loopback address of this host's interfaces;

and refuses to start, saying what to pass, when neither exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Sequence

from gossipreg.core.errors import ConfigError
from gossipreg.core.wire.addresses import is_unspecified
from gossipreg.io.net.transport import Transport
from gossipreg.io.validate import format_hostport, split_hostport

__all__ = ["advertise_for", "choose_advertise", "interface_addresses"]

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def _ipv4_of(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR,
                              struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None  # no IPv4 address on this interface
    return socket.inet_ntoa(raw[20:24])


def _ipv6_addresses() -> list[str]:
    out = []
    with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as f:
        for line in f:
            hexaddr = line.split()[0]
            out.append(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    return out


def interface_addresses(family: socket.AddressFamily | None = None) -> list[str]:
    """Global, non-loopback, non-link-local addresses of this host (IPv4 first)."""
    found: list[str] = []
    if family in (None, socket.AF_INET):
        for _, name in socket.if_nameindex():
            a = _ipv4_of(name)
            if a is not None:
                found.append(a)
    if family in (None, socket.AF_INET6):
        found += _ipv6_addresses()
    good = []
    for a in found:
        ip = ipaddress.ip_address(a)
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast):
            good.append(a)
    return list(dict.fromkeys(good))


async def _route_source(seed: str, family: socket.AddressFamily) -> str | None:
    """The local address the kernel would use towards ``seed`` (None if it has no route)."""
    try:
        host, port = split_hostport(seed)
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or 7946, family=family if family == socket.AF_INET else 0,
            type=socket.SOCK_DGRAM)
    except (OSError, ValueError):
        return None
    for fam, _, _, _, sockaddr in infos:
        try:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.connect(sockaddr)
                local = str(s.getsockname()[0])
        except OSError:
            continue
        if not ipaddress.ip_address(local).is_unspecified:
            return local
    return None


async def choose_advertise(bind: str, seeds: Sequence[str]) -> str:
    """The address to advertise for a node bound to ``bind`` (``host:port``, the real port);
    ``bind`` itself unless its host is unspecified. Raises ConfigError when nothing routable
    is found."""
    if not is_unspecified(bind):
        return bind
    host, port = split_hostport(bind)
    family = socket.AF_INET if ipaddress.ip_address(host).version == 4 else socket.AF_INET6
    for seed in seeds[:1]:
        local = await _route_source(seed, family)
        if local is not None:
            return format_hostport(local.split("%")[0], port)
    # An IPv6 wildcard also accepts IPv4 (Linux's default dual stack): any family will do.
    addrs = interface_addresses(socket.AF_INET if family == socket.AF_INET else None)
    if addrs:
        return format_hostport(addrs[0], port)
    raise ConfigError(
        f"bound to {bind}, but found no routable address to advertise (no route towards "
        f"the first seed, no non-loopback interface address): pass --advertise HOST:PORT")


async def advertise_for(transport: Transport, seeds: Sequence[str]) -> str:
    """:func:`choose_advertise` for a started transport bound everywhere: sets its address, or
    closes it and raises."""
    try:
        addr = await choose_advertise(transport.address, seeds)
    except BaseException:
        await transport.close()
        raise
    transport.address = addr
    return addr
