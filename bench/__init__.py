"""Benchmarks: our engines against a raw aio-pika relay, measured in the same run (DESIGN §8)."""
