"""Rendezvous hashing of a location's checks over its live probers (monitor/membership.py)."""

from __future__ import annotations

from monitor.membership import Member, assignment, live, owner

KEYS = [f"shop-{c:04d}/{check}" for c in range(2500) for check in ("home", "product", "cart", "search")]


def test_every_check_has_exactly_one_owner_and_the_shares_are_even():
    shares = assignment(KEYS, ["waw-1", "waw-2", "waw-3"])
    assert sorted(k for keys in shares.values() for k in keys) == sorted(KEYS)
    sizes = [len(keys) for keys in shares.values()]
    assert max(sizes) - min(sizes) < 0.06 * len(KEYS) / 3, sizes  # within 6 % of an even third


def test_every_member_computes_the_same_owner_whatever_order_it_lists_the_members_in():
    for key in KEYS[:200]:
        assert owner(key, ["a", "b", "c"]) == owner(key, ["c", "a", "b"])


def test_when_a_member_dies_only_its_checks_move_and_they_spread_over_the_others():
    before = assignment(KEYS, ["waw-1", "waw-2", "waw-3"])
    after = assignment(KEYS, ["waw-1", "waw-3"])
    moved = {k for k in KEYS if owner(k, ["waw-1", "waw-2", "waw-3"]) != owner(k, ["waw-1", "waw-3"])}
    assert moved == set(before["waw-2"])  # nothing else moves
    assert set(before["waw-1"]) <= set(after["waw-1"]) and set(before["waw-3"]) <= set(after["waw-3"])
    gained = len(after["waw-1"]) - len(before["waw-1"]), len(after["waw-3"]) - len(before["waw-3"])
    assert min(gained) > 0.4 * len(moved), gained


def test_a_member_is_live_while_its_heartbeat_is_within_the_timeout_in_its_own_location():
    members = [Member("waw-1", "waw", 100.0), Member("waw-2", "waw", 84.0), Member("fra-1", "fra", 100.0)]
    assert live(members, "waw", now=100.0, timeout=15.0) == ["waw-1"]  # waw-2 last beat 16 s ago
    assert live(members, "fra", now=100.0, timeout=15.0) == ["fra-1"]
    assert owner("shop-0001/home", live(members, "ams", now=100.0, timeout=15.0)) is None
