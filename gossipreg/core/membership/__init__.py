"""Membership: the SWIM member table, probes, suspicion (Lifeguard) and name guarding.

Owns who is in the mesh and in what state (ALIVE, SUSPECT, DEAD, LEFT), the failure detector
and refutation. Imports the wire and the shared vocabulary; knows nothing of agents, the
replica, the directory or search.
"""
