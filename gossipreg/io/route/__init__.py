"""Select and send, the caller's half: round-robin cursors, circuit breakers and task counters
local to this node, and the A2A client (a2a-sdk, the ``a2a`` extra) that delivers a message to
the chosen agent with failover. The ranking itself is pure (``gossipreg.core.route``)."""
