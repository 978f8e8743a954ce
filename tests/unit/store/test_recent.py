"""Recent: the bounded map both caches keep their values in."""

from __future__ import annotations

from engines.store.recent import Recent


def test_values_and_absences_are_found_until_their_ttl() -> None:
    now = [0.0]
    recent: Recent[str, int] = Recent(capacity=10, ttl=5, clock=lambda: now[0])
    recent.store({"a": 1, "b": None})
    assert recent.lookup(["a", "b", "c"]) == ({"a": 1, "b": None}, {"c"})
    now[0] = 5.0
    assert recent.lookup(["a", "b"]) == ({}, {"a", "b"})


def test_the_least_recently_used_key_goes_first() -> None:
    recent: Recent[str, int] = Recent(capacity=2, ttl=60, clock=lambda: 0.0)
    recent.store({"a": 1, "b": 2})
    recent.lookup(["a"])
    recent.store({"c": 3})
    assert recent.lookup(["a", "b", "c"]) == ({"a": 1, "c": 3}, {"b"}) and len(recent) == 2


def test_storing_again_renews_the_value_and_its_time() -> None:
    now = [0.0]
    recent: Recent[str, int] = Recent(capacity=2, ttl=5, clock=lambda: now[0])
    recent.store({"a": 1})
    now[0] = 4.0
    recent.store({"a": 2})
    now[0] = 8.0
    assert recent.lookup(["a"]) == ({"a": 2}, set())


def test_capacity_zero_keeps_nothing_and_clear_forgets_all() -> None:
    none: Recent[str, int] = Recent(capacity=0, ttl=60)
    none.store({"a": 1})
    assert len(none) == 0
    recent: Recent[str, int] = Recent(capacity=5, ttl=60)
    recent.store({"a": 1, "b": 2})
    recent.discard("a")
    assert len(recent) == 1
    recent.clear()
    assert len(recent) == 0


def test_capacity_counts_weights_not_keys() -> None:
    recent: Recent[str, str] = Recent(capacity=10, ttl=60, clock=lambda: 0.0, weight=lambda v: len(v or "x"))
    recent.store({"a": "aaaa", "b": "bbbb"})
    assert recent.total == 8
    recent.store({"c": "cccc"})  # 12 > 10: the least recently used goes
    assert recent.lookup(["a", "b", "c"]) == ({"b": "bbbb", "c": "cccc"}, {"a"}) and recent.total == 8
    recent.store({"b": "bb"})  # stored again: its old weight is given back
    assert recent.total == 6
