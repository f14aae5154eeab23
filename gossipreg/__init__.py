"""gossipreg: a decentralized agent registry.

Every runtime embeds a gossip node (SWIM membership with Lifeguard, over aiohttp) holding a
CRDT-merged replica of the agent directory, so capability queries are answered locally and
every node derives the same lifecycle events. The kaizen-compatible :class:`AgentRegistry`
sits on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gossipreg.core.config import NodeConfig
from gossipreg.core.errors import (
    AgentExistsError,
    CodecError,
    ConfigError,
    GossipregError,
    InvalidArgumentError,
    JoinError,
    NodeStateError,
    NoMatchError,
)
from gossipreg.core.types import (
    AgentRecord,
    AgentStatus,
    AgentView,
    MemberInfo,
    MemberState,
    RegistryEventType,
)
from gossipreg.version import __version__ as __version__

if TYPE_CHECKING:
    from gossipreg.io.gossip_node import GossipNode
    from gossipreg.io.net.transport import MemoryNetwork
    from gossipreg.io.writes import Outcome
    from gossipreg.registry import (
        AgentMetadata,
        AgentRegistry,
        AgentRegistryConfig,
        RegistryEvent,
    )

__all__ = [
    "AgentExistsError",
    "AgentMetadata",
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
    "NoMatchError",
    "NodeConfig",
    "NodeStateError",
    "Outcome",
    "RegistryEvent",
    "RegistryEventType",
]


# aiohttp is imported only when the I/O layer is used, so `import gossipreg` stays light.
_LAZY = {
    "GossipNode": "gossipreg.io.gossip_node",
    "MemoryNetwork": "gossipreg.io.net.transport",
    "Outcome": "gossipreg.io.writes",
    "AgentMetadata": "gossipreg.registry",
    "AgentRegistry": "gossipreg.registry",
    "AgentRegistryConfig": "gossipreg.registry",
    "RegistryEvent": "gossipreg.registry",
}


if not TYPE_CHECKING:
    # Hidden from type checkers, which see the real imports above: a misspelt name is then a
    # type error (``from gossipreg import AgentRegistyr``), not an ``Any``.
    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'gossipreg' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this hook
        return value


def __dir__() -> list[str]:
    """The public names, lazy ones included (``dir()`` and ``help()`` list them)."""
    return sorted({*globals(), *__all__})
