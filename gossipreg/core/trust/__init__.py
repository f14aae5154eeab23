"""Owner signatures: who may say what about a node and its agents.

``proofs`` defines what is signed (one canonical byte string per statement: a write, a member's
Alive and Left, a key rotation, an owner's manifest) and the signer and verifier the caller
injects (the I/O layer's Ed25519 keys, or the simulator's deterministic stub): the core imports
no cryptography. ``judge`` holds the pinned keys and decides, before anything merges, whether a
write, a member statement or a delta may: signatures checked after the early drop of known
news, verdicts cached, failures counted by reason and rate-limited per sender.
"""
