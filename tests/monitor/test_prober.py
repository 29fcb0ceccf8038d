"""Probers of one location share its checks through their heartbeats (monitor/prober.py), on both databases:
each check runs in exactly one of them; a dead one's checks move after the timeout, a stopped one's at once;
and a prober whose own network is in doubt says so, so its location does not vote."""

from __future__ import annotations

from monitor.membership import live_locations, lost_locations
from monitor.prober import Prober
from monitor.store import probers
from tests.fakes import FakeClock

KEYS = [(f"shop-{c}", f"page-{k}") for c in range(20) for k in range(5)]


def prober(engine, ident: str, clock: FakeClock, location: str = "waw", lost=lambda: False) -> Prober:
    return Prober(engine, ident, location, KEYS, heartbeat=1.0, timeout=5.0, clock=clock, lost=lost)


def test_two_probers_split_the_checks_once_and_a_third_location_is_apart(engine):
    clock = FakeClock(1000.0)
    a, b, c = prober(engine, "waw/a", clock), prober(engine, "waw/b", clock), prober(engine, "fra/c", clock, "fra")
    for p in (a, b, c, a, b):  # everyone's first look, then a and b see each other
        p.look()
    assert a.mine | b.mine == set(KEYS) and not a.mine & b.mine
    assert 30 < len(a.mine) < 70  # rendezvous hashing spreads them
    assert c.mine == set(KEYS)  # alone in its location: every check


def test_a_dead_prober_s_checks_move_after_the_timeout_and_a_stopped_one_s_at_once(engine):
    clock = FakeClock(1000.0)
    a, b = prober(engine, "waw/a", clock), prober(engine, "waw/b", clock)
    for p in (a, b, a):
        p.look()
    held_by_b = set(b.mine)
    clock.advance(5.0)  # b stopped beating (SIGKILL) 5 s ago: still counted
    a.look()
    assert not a.mine & held_by_b
    clock.advance(0.5)  # past the timeout: a takes b's checks at its next look
    a.look()
    assert a.mine == set(KEYS)

    b.look()  # b is back: the split again
    a.look()
    assert a.mine | b.mine == set(KEYS) and b.mine
    probers.leave(engine, "waw/b")  # SIGTERM: its row goes
    a.look()
    assert a.mine == set(KEYS)


def test_a_prober_whose_own_network_is_in_doubt_takes_its_location_out_of_the_vote(engine):
    clock = FakeClock(1000.0)
    doubt = {"waw": False}
    prober(engine, "waw/a", clock, lost=lambda: doubt["waw"]).look()
    prober(engine, "fra/c", clock, "fra").look()
    assert lost_locations(probers.members(engine), clock(), 5.0) == frozenset()
    doubt["waw"] = True
    prober(engine, "waw/a", clock, lost=lambda: doubt["waw"]).look()
    members = probers.members(engine)
    assert lost_locations(members, clock(), 5.0) == {"waw"}
    assert live_locations(members, clock(), 5.0) == {"waw", "fra"}
    clock.advance(6.0)  # nobody beats: no location is live, none counts as lost
    assert live_locations(probers.members(engine), clock(), 5.0) == lost_locations(probers.members(engine), clock(), 5.0) == set()
