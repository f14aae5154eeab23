"""The ``gossipreg`` command line: one dispatch table in ``main``; a module per command group."""

from gossipreg.cli.app import main

__all__ = ["main"]
