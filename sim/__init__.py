"""Simulator, benchmarks and the multi-process harness (gossipreg never imports this)."""
