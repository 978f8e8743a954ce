"""How long to wait before trying again: the one back-off every retry in the framework uses."""

from __future__ import annotations

import itertools

__all__ = ["backoff_delays"]


def backoff_delays(first: float = 0.5, cap: float = 30.0) -> itertools.chain[float]:
    """0.5, 1, 2, 4 … capped: retries never spin, and never wait longer than `cap`."""
    return itertools.chain((min(cap, first * 2**n) for n in range(16)), itertools.repeat(cap))
