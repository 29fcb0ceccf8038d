"""A check's verdict from several locations (monitor/quorum.py): down only when its quorum sees it down."""

from __future__ import annotations

import pytest

from monitor.health import Verdict
from monitor.quorum import Sighting, decide, needed

UP = Verdict(True)
DOWN = Verdict(False, "dns_error", "DNS lookup failed: SERVFAIL")
SLOW = Verdict(False, "too_slow", "response took 4.2s, limit 3s", "degraded")
STALE = Verdict(False, "timeout", "status page unreadable", "stale")


def sightings(**by_location: Verdict) -> list[Sighting]:
    return [Sighting(location, verdict, 100.0) for location, verdict in by_location.items()]


@pytest.mark.parametrize(
    ("quorum", "voting", "need"), [("majority", 1, 1), ("majority", 2, 2), ("majority", 3, 2), ("majority", 4, 3), (2, 5, 2), (1, 3, 1)]
)
def test_a_majority_is_more_than_half_of_the_voting_locations(quorum, voting, need):
    assert needed(quorum, voting) == need


def test_one_location_failing_of_three_takes_nothing_down():
    vote = decide(sightings(waw=DOWN, fra=UP, ams=UP), now=101.0, interval=60, quorum="majority")
    assert vote.verdict == UP
    assert vote.down == ("waw",) and vote.voting == 3 and vote.needed == 2


def test_two_of_three_is_down_and_says_so():
    vote = decide(sightings(waw=DOWN, fra=DOWN, ams=UP), now=101.0, interval=60, quorum="majority")
    assert vote.verdict == Verdict(False, "dns_error", "DNS lookup failed: SERVFAIL (seen from 2 of 3 locations)")
    assert vote.failing == ("fra", "waw")


def test_with_one_location_the_verdict_is_its_result_unchanged():
    for verdict in (UP, DOWN, SLOW):
        assert decide(sightings(here=verdict), now=101.0, interval=60, quorum="majority").verdict == verdict


def test_down_and_degraded_locations_together_degrade_when_down_alone_falls_short():
    vote = decide(sightings(waw=DOWN, fra=SLOW, ams=UP), now=101.0, interval=60, quorum="majority")
    assert vote.verdict.level.value == "degraded" and vote.verdict.error_class == "dns_error"
    assert (vote.down, vote.degraded) == (("waw",), ("fra",))


def test_stale_or_cut_off_locations_do_not_vote_and_are_never_counted_down():
    old = [Sighting("waw", DOWN, 100.0), Sighting("fra", DOWN, 100.0 - 200), Sighting("ams", UP, 100.0)]
    vote = decide(old, now=101.0, interval=60, quorum="majority", lost=frozenset({"waw"}))
    assert vote.verdict == UP  # waw's network is in doubt, fra's result is older than two intervals
    assert vote.unknown == ("fra", "waw") and vote.voting == 1


def test_a_stale_result_does_not_vote_either():
    vote = decide(sightings(waw=STALE, fra=DOWN, ams=DOWN), now=101.0, interval=60, quorum="majority")
    assert vote.unknown == ("waw",) and vote.voting == 2 and vote.verdict.level.value == "down"


def test_no_location_able_to_vote_learns_nothing():
    vote = decide(sightings(waw=DOWN), now=101.0, interval=60, quorum="majority", lost=frozenset({"waw"}))
    assert vote.verdict.level is None and vote.verdict.severity == "stale"


def test_a_fixed_quorum_larger_than_the_voters_holds_the_state_both_ways():
    # Too few locations can vote to confirm the outage, and too few to end one: nothing is learned.
    for verdict in (DOWN, UP):
        vote = decide(sightings(waw=verdict, fra=verdict), now=101.0, interval=60, quorum=3)
        assert vote.verdict.level is None and vote.needed == 3 and vote.voting == 2
        assert vote.verdict.error == "only 2 of the 3 locations needed can vote now: state held"
