"""The probers' heartbeats on SQLite and PostgreSQL, and who runs which check from them."""

from __future__ import annotations

from monitor.membership import Member, live, owner
from monitor.store.probers import beat, leave, members


def test_heartbeats_are_kept_per_prober_and_a_clean_stop_hands_its_checks_over_at_once(engine):
    beat(engine, "waw-a:10", "waw", 100.0)
    beat(engine, "waw-b:11", "waw", 101.0)
    beat(engine, "fra-a:12", "fra", 101.0)
    beat(engine, "waw-a:10", "waw", 105.0)  # a later beat moves seen_at only

    assert members(engine) == [Member("fra-a:12", "fra", 101.0), Member("waw-a:10", "waw", 105.0), Member("waw-b:11", "waw", 101.0)]
    keys = [f"shop-{i}/home" for i in range(200)]
    both = live(members(engine), "waw", now=106.0, timeout=15.0)
    assert both == ["waw-a:10", "waw-b:11"]
    assert {owner(k, both) for k in keys} == set(both)  # the location's two probers share its checks

    leave(engine, "waw-b:11")
    alone = live(members(engine), "waw", now=106.0, timeout=15.0)
    assert {owner(k, alone) for k in keys} == {"waw-a:10"}


def test_a_prober_that_stops_beating_drops_out_after_the_timeout(engine):
    beat(engine, "waw-a:10", "waw", 100.0)
    beat(engine, "waw-b:11", "waw", 100.0)
    beat(engine, "waw-a:10", "waw", 114.0)  # waw-b was SIGKILLed after its beat at 100
    assert live(members(engine), "waw", now=115.0, timeout=15.0) == ["waw-a:10", "waw-b:11"]
    assert live(members(engine), "waw", now=116.0, timeout=15.0) == ["waw-a:10"]
