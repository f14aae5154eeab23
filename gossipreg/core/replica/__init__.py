"""The replica: per-owner versioned entries merged as a CRDT, tombstones, hybrid clocks.

Owns merge (the higher version wins per key; a newer generation replaces an owner's state),
watermarks, deltas and collection. Values are opaque: their size is measured by a function the
caller injects. Imports the wire's write and delta shapes and the shared vocabulary; knows no
agent records, membership, directory or search.
"""
