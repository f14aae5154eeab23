"""Dissemination: broadcast queues, gossip ticks, piggybacking, beacons and anti-entropy.

Owns how news travels: the fast path (queued broadcasts, each sent a bounded number of times)
and the slow path (digest exchange and deltas). Imports the wire, membership and the replica;
knows nothing of agent records, the directory or search.
"""
