"""A pass-through engine: forwards every valid event unchanged (chain plumbing, benchmarks)."""
