"""How frames travel between nodes: HTTP POST, WebSocket links and UDP datagrams.

Owns the transports (``transport``: the ``Transport`` protocol, HTTP and in-memory;
``links_transport``: links and datagrams beside HTTP, chosen per peer by its feature bits),
the TLS contexts (``tls``) and the addresses a node advertises (``advertise``). It imports the
core's wire types and io's address parsing (``validate``), nothing above it: the runner and
``GossipNode`` compose it (``tests/test_layering.py`` holds the rule).
"""
