"""Health beyond thresholds: maintenance edges, overrides, frozen states, flapping, combination rules."""

from __future__ import annotations

from datetime import UTC

import pytest

from monitor.flapping import FlapDetector, FlapSettings, percent_state_change
from monitor.health import ChannelHealth, Context, FlapEvent, Override, Rules, State, Thresholds, Transition, Verdict
from monitor.maintenance import Window

OK = Verdict(True)
FAIL = Verdict(False, "http_status", "HTTP 503")
WINDOW = Window("database upgrade", start=100.0, end=200.0)


def transitions(events):
    return [(e.old.value, e.new.value) for e in events if not isinstance(e, FlapEvent)]


def feed(channel: ChannelHealth, steps):
    """steps: (time, check, verdict, context) -> list of (old, new) per step."""
    return [transitions(channel.observe(check, verdict, t, ctx)) for t, check, verdict, ctx in steps]


def test_maintenance_hides_a_down_channel_and_ending_it_while_down_alerts_once():
    channel = ChannelHealth("shop", Rules(Thresholds(2, 2)))
    in_window = Context(maintenance=WINDOW)
    assert feed(channel, [(1, "home", OK, Context())]) == [[("unknown", "up")]]
    assert channel.tick(100, in_window).new is State.MAINTENANCE
    assert feed(channel, [(t, "home", FAIL, in_window) for t in (110, 120, 130)]) == [[], [], []]
    after = channel.tick(200, Context())
    assert (after.old, after.new, after.cause["check"]) == (State.MAINTENANCE, State.DOWN, "home")
    assert feed(channel, [(210, "home", FAIL, Context())]) == [[]]  # no second down


def test_maintenance_ending_on_a_healthy_channel_returns_to_up():
    channel = ChannelHealth("shop", Rules(Thresholds(2, 2)))
    feed(channel, [(1, "home", OK, Context())])
    channel.tick(100, Context(maintenance=WINDOW))
    assert (channel.tick(200, Context()).new, channel.cause) == (State.UP, {})


def test_override_forces_a_state_until_it_expires():
    channel = ChannelHealth("fb", Rules(Thresholds(3, 2)))
    feed(channel, [(1, "home", OK, Context())])
    forced = Context(override=Override(State.DOWN, "ops@shop", "planned shutdown", until=50))
    t = channel.tick(10, forced)
    assert (t.new, dict(t.cause)) == (State.DOWN, {"override_by": "ops@shop", "reason": "planned shutdown"})
    assert feed(channel, [(20, "home", OK, forced)]) == [[]]
    assert channel.tick(50, forced).new is State.UP  # expired: the checks decide again


def test_frozen_context_holds_states_and_does_not_count_what_it_sees():
    channel = ChannelHealth("allegro", Rules(Thresholds(2, 2)))
    feed(channel, [(1, "home", OK, Context())])
    frozen = Context(frozen=True)
    assert feed(channel, [(t, "home", FAIL, frozen) for t in (2, 3, 4)]) == [[], [], []]
    assert channel.state is State.UP and channel.checks["home"].fails == 0
    assert channel.tick(5, Context()) is None  # connectivity back: no channel is declared down for it
    assert feed(channel, [(6, "home", FAIL, Context()), (7, "home", FAIL, Context())]) == [[], [("up", "down")]]


def test_while_overloaded_failures_do_not_count_but_successes_do():
    overloaded = Context(overloaded=True)
    fresh = ChannelHealth("allegro", Rules(Thresholds(2, 2)))
    assert feed(fresh, [(1, "home", OK, overloaded)]) == [[("unknown", "up")]]  # a good result is still evidence
    assert feed(fresh, [(t, "home", FAIL, overloaded) for t in (2, 3, 4)]) == [[], [], []]
    assert fresh.state is State.UP and fresh.checks["home"].fails == 0

    # A failure counted just before the overload is not acted on while it lasts ...
    halfway = ChannelHealth("amazon", Rules(Thresholds(2, 2)))
    feed(halfway, [(1, "home", OK, Context()), (2, "home", FAIL, Context())])
    assert feed(halfway, [(3, "home", FAIL, overloaded)]) == [[]]
    assert halfway.tick(4, overloaded) is None and halfway.state is State.UP
    # ... and a down channel still recovers on good results.
    down = ChannelHealth("ceneo", Rules(Thresholds(1, 2)))
    feed(down, [(1, "home", FAIL, Context())])
    assert feed(down, [(2, "home", OK, overloaded), (3, "home", OK, overloaded)]) == [[], [("down", "up")]]


def test_override_and_maintenance_apply_while_frozen():
    channel = ChannelHealth("allegro", Rules(Thresholds(2, 2)))
    feed(channel, [(1, "home", OK, Context())])
    forced = Context(frozen=True, override=Override(State.DOWN, "anna", "shutdown"))
    assert channel.tick(2, forced).new is State.DOWN
    assert channel.tick(3, Context(frozen=True, maintenance=WINDOW)).new is State.MAINTENANCE


def test_lifting_an_override_is_not_held_by_min_state_time():
    channel = ChannelHealth("shop", Rules(Thresholds(1, 1), min_state_time=600))
    feed(channel, [(0, "home", OK, Context())])
    channel.tick(700, Context(override=Override(State.DOWN, "anna", "shutdown")))
    assert channel.tick(760, Context()).new is State.UP


def test_alternating_down_and_degraded_failures_still_degrade():
    channel = ChannelHealth("shop", Rules(Thresholds(3, 2)))
    feed(channel, [(0, "og", OK, Context())])
    degraded = Verdict(False, "catalog_invalid", "og:image missing", "degraded")
    for t in range(1, 4):
        channel.observe("og", FAIL if t % 2 else degraded, float(t))
    assert channel.state is State.DEGRADED


@pytest.mark.parametrize(
    "down_when,failing,expected",
    [
        (1, ["a"], State.DOWN),
        (2, ["a"], State.DEGRADED),
        (2, ["a", "b"], State.DOWN),
        (None, ["a", "b"], State.DEGRADED),
        (None, ["a", "b", "c"], State.DOWN),
    ],
    ids=["any", "one-of-two-needed", "two-of-two-needed", "all-but-one", "all"],
)
def test_down_when_counts_down_checks(down_when, failing, expected):
    channel = ChannelHealth("c", Rules(Thresholds(1, 1), down_when=down_when))
    for check in "abc":
        channel.observe(check, OK, 1)
    for check in failing:
        channel.observe(check, FAIL, 2)
    assert channel.state is expected


def test_degrade_only_check_never_takes_the_channel_down():
    channel = ChannelHealth("shop", Rules(Thresholds(1, 1), degrade_only=frozenset({"status-page"})))
    channel.observe("home", OK, 1)
    [t] = transitions(channel.observe("status-page", Verdict(False, "vendor_outage", "Shopify: major_outage"), 2))
    assert t == ("up", "degraded")


def test_min_state_time_holds_a_state_until_it_has_lasted():
    channel = ChannelHealth("shop", Rules(Thresholds(1, 1), min_state_time=60))
    feed(channel, [(0, "home", OK, Context())])
    assert feed(channel, [(10, "home", FAIL, Context())]) == [[]]
    assert feed(channel, [(61, "home", FAIL, Context())]) == [[("up", "down")]]


def test_flapping_starts_once_and_marks_transitions():
    channel = ChannelHealth("allegro", Rules(Thresholds(1, 1), flapping=FlapSettings(samples=11, high=50, low=25)))
    flaps, marked = [], []
    for i in range(30):
        for event in channel.observe("home", OK if i % 2 else FAIL, float(i)):
            (flaps if isinstance(event, FlapEvent) else marked).append(event)
    assert [f.started for f in flaps] == [True]
    assert marked[-1].flapping is True and marked[0].flapping is False
    for i in range(30, 45):
        flaps += [e for e in channel.observe("home", OK, float(i)) if isinstance(e, FlapEvent)]
    assert [f.started for f in flaps] == [True, False]


@pytest.mark.parametrize(
    "states,percent",
    [
        (["up"] * 21, 0.0),
        (["up", "down"] * 10 + ["up"], 100.0),
        (["up"] * 20 + ["down"], 6.0),
    ],
    ids=["steady", "alternating", "one-recent-change"],
)
def test_percent_state_change(states, percent):
    assert percent_state_change(states) == pytest.approx(percent, abs=0.01)


@pytest.mark.parametrize("min_samples", [3, 6, 10])
def test_flap_detector_judges_from_min_samples_on(min_samples):
    detector = FlapDetector(FlapSettings(samples=21, min_samples=min_samples))
    seen = [detector.observe(s) for s in ["up", "down"] * 6]
    assert seen == [None] * (min_samples - 1) + [True] + [None] * (12 - min_samples)


def test_an_ok_503_channel_is_one_incident_with_one_key_and_is_flapping_after_three_cycles():
    health = ChannelHealth("shop", Rules(thresholds=Thresholds(1, 1)))
    events = [e for i in range(20) for e in health.observe("home", Verdict(i % 2 == 0, None if i % 2 == 0 else "http_status"), 10.0 * i)]
    transitions = [e for e in events if isinstance(e, Transition)]
    assert len(transitions) == 20
    assert {t.down_since for t in transitions if t.new is State.DOWN} == {10.0}  # every outage continues the first
    flaps = [e for e in events if isinstance(e, FlapEvent)]
    assert [(f.started, f.at) for f in flaps] == [(True, 50.0)]  # the 6th result
    health.observe("home", Verdict(True), 200.0)  # ends up
    assert health.incident_since(200.0) == 10.0 and health.incident_since(501.0) is None


@pytest.mark.parametrize(
    "hour_utc,active", [(0, False), (1, True), (2.99, True), (3, False)], ids=["before", "start", "just-before-end", "end"]
)
def test_recurring_window_in_a_time_zone(hour_utc, active):
    from datetime import datetime

    # Sundays 02:00-04:00 in Warsaw (UTC+1 in November): 01:00-03:00 UTC on Sunday 22 Nov 2026.
    window = Window("weekly backup", cron="0 2 * * sun", duration=7200, time_zone="Europe/Warsaw")
    now = datetime(2026, 11, 22, tzinfo=UTC).timestamp() + hour_utc * 3600
    assert window.active_at(now) is active


def test_down_time_spans_a_maintenance_window_and_the_recovery_is_reported():
    from alerts.base import Alert
    from tests.fakes import Recorder

    channel = ChannelHealth("shop", Rules(Thresholds(1, 1)))
    feed(channel, [(0, "home", OK, Context()), (10, "home", FAIL, Context())])
    channel.tick(100, Context(maintenance=WINDOW))
    t = channel.tick(200, Context())  # the window ends, still failing
    assert (t.new, t.down_since) == (State.DOWN, 10)
    [recovery] = [e for e in channel.observe("home", OK, 300, Context()) if not isinstance(e, FlapEvent)]
    assert recovery.down_since == 10
    alert = Alert("shop", "Shop", "maintenance", "up", 300, {}, down_for=300 - recovery.down_since)
    assert Recorder().wants(alert) and alert.summary.endswith("(down for 4m 50s)")
    assert not Recorder().wants(Alert("shop", "Shop", "maintenance", "up", 300, {}))  # a quiet window end
