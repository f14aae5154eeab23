"""The HTTP API served beside the gossip endpoint: routes, errors, SSE, health, metrics, ARD.

Built only on a running node's public surface (``GossipNode`` and the core's read surface).
"""
