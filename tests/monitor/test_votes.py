"""Each check's results from several locations become one verdict per round (monitor/votes.py): thresholds count
intervals, not locations' results, and with one location every result is its own round, as without quorum."""

from __future__ import annotations

from monitor.health import Verdict
from monitor.quorum import Sighting
from monitor.votes import Votes

UP, DOWN = Verdict(True), Verdict(False, "http_status", "HTTP 503", "down")
NONE: frozenset[str] = frozenset()
THREE = frozenset({"waw", "fra", "ams"})


def votes(quorum="majority", interval=60.0) -> Votes:
    return Votes({("shop", "home"): (interval, quorum)})


def test_one_location_every_result_is_a_verdict_as_it_came():
    v = votes()
    for i, verdict in enumerate([UP, DOWN, DOWN]):
        observed = v.add("shop", "home", Sighting("local", verdict, 100.0 + i), 100.0 + i, NONE)
        assert observed is not None and observed.verdict == verdict and observed.at == 100.0 + i


def test_a_round_closes_when_every_voting_location_has_reported_once():
    v = votes()
    # The first round: a location not heard from yet whose probers beat is waited for too.
    assert v.add("shop", "home", Sighting("waw", UP, 100.0), 100.0, NONE, THREE) is None
    assert v.add("shop", "home", Sighting("fra", UP, 100.1), 100.1, NONE, THREE) is None
    assert v.add("shop", "home", Sighting("ams", UP, 100.2), 100.2, NONE, THREE).verdict.healthy
    assert v.add("shop", "home", Sighting("waw", DOWN, 160.0), 160.0, NONE, THREE) is None  # fra and ams not heard yet
    assert v.add("shop", "home", Sighting("fra", DOWN, 160.2), 160.2, NONE, THREE) is None
    closed = v.add("shop", "home", Sighting("ams", UP, 160.4), 160.4, NONE, THREE)
    assert closed is not None and not closed.verdict.healthy
    assert closed.verdict.error == "HTTP 503 (seen from 2 of 3 locations)" and closed.at == 160.4
    vote = v.vote("shop", "home")
    assert vote is not None and vote.down == ("fra", "waw") and vote.needed == 2


def test_one_location_failing_of_three_gives_a_good_verdict_and_is_shown():
    v = votes()
    for loc, verdict in (("waw", DOWN), ("fra", UP), ("ams", UP)):
        closed = v.add("shop", "home", Sighting(loc, verdict, 100.0), 100.0, NONE, THREE)
    assert closed is not None and closed.verdict.healthy
    assert v.vote("shop", "home").failing == ("waw",)


def test_a_location_that_went_quiet_does_not_hold_the_round_open_past_an_interval():
    v = votes(interval=60.0)
    two = frozenset({"waw", "fra"})
    for loc in ("waw", "fra"):
        v.add("shop", "home", Sighting(loc, UP, 100.0), 100.0, NONE, two)
    assert v.add("shop", "home", Sighting("waw", DOWN, 160.0), 160.0, NONE, two) is None
    assert v.due(219.0, NONE) == []
    [closed] = v.due(220.0, NONE)  # an interval after the round's first result
    assert closed.verdict.healthy  # fra's good result (still fresh) outvotes nobody: 1 of 2 is no majority


def test_a_location_whose_own_network_is_in_doubt_neither_votes_nor_holds_the_round():
    v = votes()
    lost = frozenset({"ams"})
    for loc in ("waw", "fra", "ams"):
        v.add("shop", "home", Sighting(loc, UP, 100.0), 100.0, NONE, THREE)
    v.add("shop", "home", Sighting("waw", DOWN, 160.0), 160.0, lost, THREE)
    closed = v.add("shop", "home", Sighting("fra", DOWN, 160.1), 160.1, lost, THREE)  # ams is not waited for
    assert closed is not None and not closed.verdict.healthy
    assert v.vote("shop", "home").unknown == ("ams",)


def test_an_older_result_read_late_does_not_replace_a_newer_one():
    v = votes()
    v.add("shop", "home", Sighting("waw", UP, 200.0), 200.0, NONE)
    assert v.add("shop", "home", Sighting("waw", DOWN, 150.0), 201.0, NONE) is None


def test_results_of_a_check_no_longer_configured_are_ignored():
    assert votes().add("shop", "gone", Sighting("waw", DOWN, 1.0), 1.0, NONE) is None


def test_the_page_says_when_too_few_locations_can_vote_for_a_fixed_quorum():
    from monitor.quorum import decide
    from monitor.web.views import location_text

    vote = decide([Sighting("waw", DOWN, 100.0)], now=100.0, interval=60.0, quorum=2, lost=frozenset({"fra"}))
    assert location_text(vote) == "only 1 of the 2 locations needed can vote: state held; failing from waw"
    vote = decide([Sighting("waw", DOWN, 100.0), Sighting("fra", UP, 100.0)], now=100.0, interval=60.0, quorum="majority")
    assert location_text(vote) == "failing from waw (1 of 2 voting locations; 2 needed for down)"
