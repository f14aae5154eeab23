"""Benchmarks that print figures (run as ``python -m sim.bench.<name>``); never tests."""
