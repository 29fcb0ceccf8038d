"""Leases on SQLite and PostgreSQL: one holder at a time, taken over when it stops renewing."""

from __future__ import annotations

from monitor.store.leases import hold, let_go


def test_one_holder_at_a_time_renewing_keeps_it_and_expiry_or_a_clean_stop_hands_it_over(engine):
    assert hold(engine, "alerts:slack", "relay-a", now=100.0, ttl=30.0) == (True, True)
    assert hold(engine, "alerts:slack", "relay-b", now=101.0, ttl=30.0) == (False, False)
    assert hold(engine, "alerts:slack", "relay-a", now=120.0, ttl=30.0) == (True, False)  # renewed, not new
    assert hold(engine, "alerts:slack", "relay-b", now=149.0, ttl=30.0) == (False, False)  # a's lease runs to 150
    assert hold(engine, "alerts:slack", "relay-b", now=151.0, ttl=30.0) == (True, True)  # a stopped renewing: died
    assert hold(engine, "alerts:slack", "relay-a", now=152.0, ttl=30.0) == (False, False)
    assert hold(engine, "alerts:email", "relay-a", now=152.0, ttl=30.0) == (True, True)  # leases are per name
    let_go(engine, "relay-b")
    assert hold(engine, "alerts:slack", "relay-a", now=153.0, ttl=30.0) == (True, True)
