"""Address rules shared by the core's validation paths.

Rules:
- An address is opaque to the core (the simulator uses bare names) except for one check: an
  unspecified IP host (``0.0.0.0``, ``::``) is never a place a peer can reach, so the core never
  gossips one and drops any that arrives.
- The check is pure string work plus :mod:`ipaddress` (no resolution, no sockets); a cheap first
  character test keeps it off the hot path for ordinary addresses.
"""

from __future__ import annotations

import ipaddress

__all__ = ["host_of", "is_unspecified"]


def host_of(addr: str) -> str:
    """The host part of ``host:port`` or ``[v6]:port``; the whole text when there is no port."""
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else addr
    host, sep, _ = addr.rpartition(":")
    return host if sep and ":" not in host else addr


def is_unspecified(addr: str) -> bool:
    """Whether ``addr``'s host is the unspecified IPv4 or IPv6 address."""
    # A host that is no bracketed literal starts the address: one test for most addresses
    # (every member address of every Alive parsed goes through here).
    if addr and addr[0] not in "0:[":
        return False
    host = host_of(addr)
    if not host or host[0] not in "0:":
        return False  # neither 0.0.0.0 nor any spelling of ::
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
