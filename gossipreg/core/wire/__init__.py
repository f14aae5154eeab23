"""The wire format: frames, keys, addresses and one definition per protocol message.

Owns how bytes become messages and back: the frame (protocol version, cluster, HMAC under a
keyring), the message kinds with their fields, and the checks every field passes on the way in.
Imports nothing of the core but the shared vocabulary (``core.errors``, ``core.types``); the
values a write carries are encoded by a codec the caller injects, so the wire knows no records.
"""
