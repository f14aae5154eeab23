"""Search: the capability index, lexical ranking, queries and ARD's search shapes.

Owns answering questions about visible agents: kaizen's substring semantics from an n-gram
index, ranked search by need, and ARD's request and result shapes. Imports only the shared
vocabulary; knows nothing of the replica, membership or the wire.
"""
