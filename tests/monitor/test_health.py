"""The health state machine: thresholds, recovery, causes and restore (without I/O, but for restoring from the
stored states and incidents as the service does)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.core.history import IncidentStarts
from monitor.health import (
    ChannelHealth,
    CheckHealth,
    Context,
    Rules,
    State,
    Thresholds,
    Verdict,
    advance_check,
    channel_state,
)
from monitor.maintenance import Window
from monitor.store.db import make_engine
from monitor.store.models import IncidentRow
from monitor.store.queries import load_channel_states, load_incident_starts
from monitor.store.writer import ResultWriter

OK = Verdict(True)


def first(events):
    """The transition among a call's events, or None."""
    return next((e for e in events if hasattr(e, "new")), None)


FAIL = Verdict(False, "http_status", "HTTP 503")


def run(verdicts, start=CheckHealth(), thresholds=Thresholds(3, 2)):
    health = start
    states = []
    for v in verdicts:
        health = advance_check(health, v, thresholds)
        states.append(health.state.value)
    return states


@pytest.mark.parametrize(
    "verdicts,expected",
    [
        ([OK], ["up"]),
        ([FAIL, FAIL, FAIL], ["unknown", "unknown", "down"]),
        ([OK, FAIL, FAIL, FAIL], ["up", "up", "up", "down"]),
        ([OK, FAIL, FAIL, OK, FAIL, FAIL], ["up"] * 6),
        ([FAIL, FAIL, FAIL, OK, OK], ["unknown", "unknown", "down", "down", "up"]),
        ([FAIL, FAIL, FAIL, OK, FAIL, OK, OK], ["unknown", "unknown", "down", "down", "down", "down", "up"]),
    ],
    ids=[
        "first-success-is-up",
        "three-failures-down",
        "up-then-down",
        "interrupted-failures-stay-up",
        "two-successes-recover",
        "interrupted-recovery-stays-down",
    ],
)
def test_thresholds(verdicts, expected):
    assert run(verdicts) == expected


def test_thresholds_are_configurable():
    assert run([FAIL], thresholds=Thresholds(1, 1)) == ["down"]
    assert run([FAIL, OK, OK, OK], thresholds=Thresholds(1, 3)) == ["down", "down", "down", "up"]


@pytest.mark.parametrize(
    "states,expected",
    [
        ({}, State.UNKNOWN),
        ({"a": State.UNKNOWN}, State.UNKNOWN),
        ({"a": State.UP, "b": State.UNKNOWN}, State.UP),
        ({"a": State.UP, "b": State.DOWN}, State.DOWN),
    ],
    ids=["no-checks", "all-unknown", "up-and-unknown", "any-down"],
)
def test_channel_state_combines_checks(states, expected):
    assert channel_state({k: CheckHealth(state=v) for k, v in states.items()}) == expected


def test_channel_transition_names_the_failing_check():
    channel = ChannelHealth("allegro", Rules(Thresholds(2, 1)))
    assert first(channel.observe("home", OK, 1.0)).new is State.UP
    assert first(channel.observe("api", OK, 1.0)) is None
    assert first(channel.observe("api", FAIL, 2.0)) is None
    t = first(channel.observe("api", FAIL, 3.0))
    assert (t.old, t.new, t.at) == (State.UP, State.DOWN, 3.0)
    assert dict(t.cause) == {"check": "api", "error_class": "http_status", "error": "HTTP 503"}
    assert first(channel.observe("home", OK, 4.0)) is None  # another check passing does not recover the channel
    recovered = first(channel.observe("api", OK, 5.0))
    assert (recovered.old, recovered.new) == (State.DOWN, State.UP)


def test_restored_down_channel_does_not_transition_again_while_failing():
    channel = ChannelHealth("fb", Rules(Thresholds(3, 2)))
    channel.restore(State.DOWN, 100.0, ["home"])
    assert [first(channel.observe("home", FAIL, t)) for t in (101.0, 102.0, 103.0)] == [None, None, None]
    assert first(channel.observe("home", OK, 104.0)) is None
    assert first(channel.observe("home", OK, 105.0)).new is State.UP


DEGRADED = Verdict(False, "tls_expiring", "certificate expires in 9 days", "degraded")
STALE = Verdict(False, "status_stale", "status page unreachable", "stale")


@pytest.mark.parametrize(
    "verdicts,expected",
    [
        ([DEGRADED], ["degraded"]),
        ([OK, DEGRADED, DEGRADED, DEGRADED], ["up", "up", "up", "degraded"]),
        ([OK, DEGRADED, DEGRADED, DEGRADED, OK, OK], ["up", "up", "up", "degraded", "degraded", "up"]),
        ([OK, STALE, STALE, STALE, STALE], ["up"] * 5),
        ([STALE], ["unknown"]),
        ([FAIL, FAIL, FAIL, STALE, OK, OK], ["unknown", "unknown", "down", "down", "down", "up"]),
        ([FAIL, FAIL, FAIL, DEGRADED, DEGRADED], ["unknown", "unknown", "down", "down", "degraded"]),
        ([OK, FAIL, STALE, FAIL, FAIL], ["up", "up", "up", "up", "down"]),
    ],
    ids=[
        "first-degraded-is-degraded",
        "degraded-after-threshold",
        "degraded-recovers",
        "stale-changes-nothing",
        "stale-first-stays-unknown",
        "stale-does-not-count-toward-recovery",
        "down-recovers-to-degraded",
        "stale-does-not-break-a-failure-streak",
    ],
)
def test_degraded_and_stale_results(verdicts, expected):
    assert run(verdicts) == expected


def test_channel_is_as_bad_as_its_worst_check():
    checks = {"home": CheckHealth(state=State.UP), "tls": CheckHealth(state=State.DEGRADED)}
    assert channel_state(checks) is State.DEGRADED
    checks["api"] = CheckHealth(state=State.DOWN)
    assert channel_state(checks) is State.DOWN


def test_degraded_transition_names_the_degraded_check():
    channel = ChannelHealth("shop", Rules(Thresholds(1, 1)))
    first(channel.observe("home", OK, 1.0))
    t = first(channel.observe("tls", DEGRADED, 2.0))
    assert (t.old, t.new, t.cause["check"], t.cause["error_class"]) == (State.UP, State.DEGRADED, "tls", "tls_expiring")


RESTART_RULES = Rules(thresholds=Thresholds(fail=1, recover=1))
BAD = Verdict(False, "http_5xx", "HTTP 503")


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield engine
    engine.dispose()


async def feed(health, writer, at, verdict):
    """Observe one result and store its transition (and incident) as the service does."""
    transition = first(health.observe("http", verdict, at))
    writer.add_transition(transition)
    await writer.flush()
    return transition


def restarted(engine, channel="allegro"):
    """The channel's health as the app's start (ChannelBook.restore) restores it."""
    stored, incidents = load_channel_states(engine)[channel], load_incident_starts(engine).get(channel, IncidentStarts())
    health = ChannelHealth(channel, RESTART_RULES)
    health.restore(
        State(stored.state), stored.since, ["http"], stored.cause, incident_since=incidents.open_since, last_incident=incidents.last
    )
    return health


def incidents(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(IncidentRow.started_at, IncidentRow.ended_at).order_by(IncidentRow.id))]


async def test_a_restart_inside_a_reopened_incident_keeps_its_start_and_its_thread(store):
    writer, health = ResultWriter(store), ChannelHealth("allegro", RESTART_RULES)
    await feed(health, writer, 0, OK)
    await feed(health, writer, 100, BAD)  # incident 100
    await feed(health, writer, 200, OK)
    again = await feed(health, writer, 250, BAD)  # down again within reopen_within: incident 100 goes on
    assert again.down_since == 100
    health = restarted(store)
    assert (health.down_since, health.since) == (100, 250)
    up = await feed(health, writer, 300, OK)
    assert up.down_since == 100  # the recovery is keyed down:allegro:100
    down = await feed(health, writer, 350, BAD)  # down again within reopen_within of 300
    assert down.down_since == 100 and incidents(store) == [(100.0, None)]


async def test_a_restart_after_a_recovery_still_reopens_the_incident(store):
    writer, health = ResultWriter(store), ChannelHealth("allegro", RESTART_RULES)
    await feed(health, writer, 0, OK)
    for down_at in (100, 1000):  # two incidents; the last one counts
        await feed(health, writer, down_at, BAD)
        await feed(health, writer, down_at + 100, OK)
    health = restarted(store)
    assert (health.down_since, health.last_down_since, health.recovered_at) == (None, 1000, 1100)
    down = await feed(health, writer, 1150, BAD)
    assert down.down_since == 1000 and incidents(store) == [(100.0, 200.0), (1000.0, None)]


async def test_a_restart_in_maintenance_keeps_the_outage_that_began_before_it(store):
    writer, health = ResultWriter(store), ChannelHealth("allegro", RESTART_RULES)
    await feed(health, writer, 0, OK)
    await feed(health, writer, 100, BAD)
    window = Window(start=150, end=400, reason="vendor work")
    writer.add_transition(health.tick(150, Context(maintenance=window)))
    await writer.flush()
    health = restarted(store)
    assert (health.state, health.down_since) == (State.MAINTENANCE, 100)
