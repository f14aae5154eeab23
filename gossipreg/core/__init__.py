"""The sans-I/O protocol core: pure, synchronous and deterministic.

Rules: nothing here reads a clock, opens a socket, starts a task or uses module-level
randomness; the caller passes ``now`` and an injected ``random.Random``. See docs/architecture.md.
"""
