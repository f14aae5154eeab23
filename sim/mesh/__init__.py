"""Multi-process harness: real gossipreg nodes (and HashiCorp Serf agents, for comparison) as
OS processes on loopback, measured the same way. Drives processes only (CLI, HTTP, RPC)."""
