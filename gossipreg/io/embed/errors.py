"""Typed errors of the embedders; every one is a :class:`~gossipreg.core.errors.GossipregError`."""

from __future__ import annotations

from gossipreg.core.errors import ConfigError, GossipregError

__all__ = [
    "INSTALL_HINT",
    "EmbedderConfigError",
    "EmbedderError",
    "EmbedderUnavailableError",
]

#: What to install for any embedder (the local model and the API clients).
INSTALL_HINT = "pip install 'gossipreg[semantic]'"


class EmbedderError(GossipregError):
    """An embedding call failed: the model or server could not be reached, answered with an
    error, or returned vectors of the wrong number, length or value."""


class EmbedderConfigError(ConfigError):
    """An embedder specification or parameter is invalid (a bad spec string, a missing API key,
    a size out of range)."""


class EmbedderUnavailableError(EmbedderConfigError):
    """The package an embedder needs is not installed; the message says what to install."""

    def __init__(self, package: str) -> None:
        super().__init__(f"the {package!r} package is not installed: {INSTALL_HINT}")
        self.package = package
