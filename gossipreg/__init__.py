"""gossipreg: a decentralized agent registry.

Every runtime embeds a gossip node (SWIM membership with Lifeguard, over aiohttp) holding a
CRDT-merged replica of the agent directory, so capability queries are answered locally and
every node derives the same lifecycle events. The kaizen-compatible :class:`AgentRegistry`
sits on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import (
    AgentExistsError,
    CodecError,
    ConfigError,
    GossipregError,
    InvalidArgumentError,
    JoinError,
    NodeStateError,
)
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberInfo,
    MemberState,
    RegistryEventType,
)

if TYPE_CHECKING:
    from gossipreg.io.runner import GossipNode
    from gossipreg.io.transport import MemoryNetwork
    from gossipreg.registry import AgentRegistry, AgentRegistryConfig, RegistryEvent

__all__ = [
    "AgentExistsError",
    "AgentRecord",
    "AgentRegistry",
    "AgentRegistryConfig",
    "AgentStatus",
    "AgentView",
    "CodecError",
    "ConfigError",
    "GossipNode",
    "GossipregError",
    "InvalidArgumentError",
    "JoinError",
    "MemberInfo",
    "MemberState",
    "MemoryNetwork",
    "NodeConfig",
    "NodeStateError",
    "RegistryEvent",
    "RegistryEventType",
]

__version__ = "0.1.0"

# aiohttp is imported only when the I/O layer is used, so `import gossipreg` stays light.
_LAZY = {
    "GossipNode": "gossipreg.io.runner",
    "MemoryNetwork": "gossipreg.io.transport",
    "AgentRegistry": "gossipreg.registry",
    "AgentRegistryConfig": "gossipreg.registry",
    "RegistryEvent": "gossipreg.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gossipreg' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
