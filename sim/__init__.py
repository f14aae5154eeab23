"""Simulation, benchmarks and the multi-process harness of gossipreg (never imported by gossipreg)."""
