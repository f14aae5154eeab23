"""Choosing agents for a task (the pure half of select/send): the query, the pool's tiers and
the strategies. The caller-local state (round-robin cursors, cooldowns, counters) lives in
``gossipreg.io.route``; the pool is built by the node's reader."""
