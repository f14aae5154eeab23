"""Search: the capability index, lexical and vector ranking fused, queries and ARD's shapes.

Owns answering questions about visible agents: kaizen's substring semantics from an n-gram
index, ranked search by need (BM25F and int8 vectors fused into one integer score:
``hybrid``), the checks on vectors from peers, and ARD's request and result shapes. Imports
only the shared vocabulary; knows nothing of the replica, membership or the wire, and never
embeds text (vectors are handed in as codes).
"""
