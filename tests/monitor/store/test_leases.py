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


def test_a_new_leading_decider_takes_the_earlier_deciders_leases_at_once_and_leaves_relays_alone(engine):
    from monitor.store.leases import let_go_others

    now = 1000.0
    assert hold(engine, "alerts:slack", "decide/host:1#1", now, 90) == (True, True)
    assert hold(engine, "alerts:mail", "relay-local/host:7:ab", now, 90) == (True, True)
    assert hold(engine, "alerts:hook", "decide/host:2#2", now, 90) == (True, True)
    assert let_go_others(engine, "decide/", "decide/host:2#2") == 1  # epoch 1's, not its own
    assert hold(engine, "alerts:slack", "decide/host:2#2", now + 1, 90) == (True, True)  # no wait for the TTL
    assert hold(engine, "alerts:mail", "decide/host:2#2", now + 1, 90) == (False, False)  # a live relay's stays
