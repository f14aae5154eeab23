"""A node's keys on disk: its Ed25519 identity (``identity``; signatures through
``ed25519``), the publisher keys that verify cards (``publishers``) and the cluster keyring
files with their rotation (``keys``).

It reads and writes files and imports the core's trust types; nothing here talks to peers.
"""
