"""The reconciler without the service: gates, plans, freezes and approvals, stored and reloaded.

Health is given directly as HealthView values; the database is real (SQLite, and PostgreSQL where
the test takes `db_url`).
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from monitor.failover.config import Failover
from monitor.failover.engine import NOTICE, PROMOTION, FailoverEngine
from monitor.failover.gate import HealthView
from monitor.health import State
from monitor.store.db import make_engine
from monitor.store.models import FailoverActionRow, FailoverPlanRow

UP, DOWN, DEGRADED, UNKNOWN, MAINT = State.UP, State.DOWN, State.DEGRADED, State.UNKNOWN, State.MAINTENANCE
ADS = (PROMOTION, "ads")


def failover(mode="auto", hold_down=60.0, failback_after=300.0, moves=4, notice_mode="auto") -> Failover:
    return Failover.model_validate({
        "timing": {"hold_down": hold_down, "failback_after": failback_after, "max_moves_per_hour": moves},
        "actuators": [{"id": "hook", "kind": "log"}],
        "promotions": [{"id": "ads", "name": "Ads", "total": 1000, "mode": mode, "channels": {
            "shop": {"share": 50, "actuator": "hook"}, "allegro": {"share": 30, "actuator": "hook"},
            "facebook": {"share": 20, "actuator": "hook"}}}],
        "notices": [{"id": "fb", "when_down": "facebook", "post_on": ["shop"], "actuator": "hook",
                     "text": "Facebook is down", "mode": notice_mode}]})


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def views(since=0.0, **states) -> dict[str, HealthView]:
    base = {"shop": UP, "allegro": UP, "facebook": UP} | states
    return {c: (s if isinstance(s, HealthView) else HealthView(s, since)) for c, s in base.items()}


def step(fe: FailoverEngine, now: float, health, frozen=False):
    decision = fe.evaluate(now, health, frozen)
    if not decision.empty:  # as the service does
        fe.commit(decision)
    return decision


def actions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(r.op, r.channel, r.value, r.status) for r in conn.execute(select(FailoverActionRow).order_by(FailoverActionRow.id))]


def plans(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(r.owner, r.status) for r in conn.execute(select(FailoverPlanRow).order_by(FailoverPlanRow.id))]


def test_hold_down_then_failover_then_failback_after_the_delay(store):
    fe = FailoverEngine(failover(), store)
    fe.load(0)
    assert step(fe, 10, views()).empty
    down = views(since=100, facebook=DOWN)
    assert step(fe, 159, down).empty                      # inside the 60 s hold-down: nothing
    decision = step(fe, 160, down)
    assert decision.gates == {"facebook": True}
    assert fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0}
    assert fe.planned[(NOTICE, "fb")] == {"shop": 1}
    back = views(since=200)
    assert step(fe, 499, back).empty                      # healthy, but not for 300 s yet
    step(fe, 500, back)
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}
    # The failback supersedes whatever of the failover was not sent yet (values are absolute).
    assert actions(store) == [
        ("set_amount", "shop", 625, "superseded"), ("set_amount", "allegro", 375, "superseded"),
        ("pause", "facebook", 0, "superseded"), ("post_notice", "shop", 1, "superseded"),
        ("set_amount", "shop", 500, "pending"), ("set_amount", "allegro", 300, "pending"),
        ("set_amount", "facebook", 200, "pending"), ("resume", "facebook", 200, "pending"),
        ("withdraw_notice", "shop", 0, "pending")]


@pytest.mark.parametrize("state", [UNKNOWN, MAINT, DEGRADED], ids=lambda s: s.value)
def test_unknown_maintenance_and_degraded_never_start_a_failover(store, state):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    assert step(fe, 1000, views(facebook=state)).empty


def test_flapping_channel_holds_still(store):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    flapping_down = views(facebook=HealthView(DOWN, 0, flapping=True))
    assert step(fe, 10, flapping_down).empty
    step(fe, 20, views(facebook=DOWN))                    # settles down: one failover
    assert fe.gates["facebook"]
    assert step(fe, 30, views(facebook=HealthView(UP, 25, flapping=True))).empty  # no failback while flapping
    assert len(plans(store)) == 2


def test_a_flapping_channel_receives_nothing_extra(store):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN, allegro=HealthView(UP, 0, flapping=True)))
    assert fe.planned[ADS] == {"shop": 700, "allegro": 300, "facebook": 0}


def test_connectivity_lost_means_no_failover_at_all(store):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    decision = step(fe, 10, views(shop=DOWN, allegro=DOWN, facebook=DOWN), frozen=True)
    assert decision.empty and actions(store) == [] and fe.gates == {}


def test_forced_down_fails_over_at_once(store):
    fe = FailoverEngine(failover(hold_down=3600), store)
    fe.load(0)
    step(fe, 10, views(allegro=HealthView(DOWN, 9, forced=True)))
    assert fe.planned[ADS]["allegro"] == 0


def test_nothing_healthy_left_holds_the_allocation_and_says_so(store):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    decision = step(fe, 10, views(shop=DOWN, allegro=DOWN, facebook=DOWN))
    assert [e[0] for e in decision.events if e[1] == ADS] == ["failover_held"]
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200} and fe.owners[ADS].held
    assert not step(fe, 11, views(shop=DOWN, allegro=DOWN, facebook=DOWN)).events  # said once


def test_too_many_moves_freeze_the_promotion_until_a_person_unfreezes_it(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0, moves=2), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    step(fe, 20, views(since=20))
    decision = step(fe, 30, views(facebook=DOWN))
    assert [e[0] for e in decision.events if e[1] == ADS] == ["failover_frozen"]
    assert fe.owners[ADS].frozen and fe.planned[ADS]["facebook"] == 200
    fe.set_frozen(ADS, False, "ola", "", 40)
    step(fe, 41, views(facebook=DOWN))
    assert fe.planned[ADS]["facebook"] == 0


def test_approval_mode_waits_and_an_outage_that_ends_first_withdraws_the_request(store):
    fe = FailoverEngine(failover(mode="approve", hold_down=0, failback_after=0), store)
    fe.load(0)
    decision = step(fe, 10, views(facebook=DOWN))
    assert ("failover_approval_needed", ADS) in [(e[0], e[1]) for e in decision.events]
    assert fe.planned[ADS]["facebook"] == 200 and ADS in fe.pending
    assert step(fe, 11, views(facebook=DOWN)).plans == []  # asked once
    step(fe, 20, views(since=20))
    assert ADS not in fe.pending
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "superseded")]


def test_approving_applies_the_plan(store):
    fe = FailoverEngine(failover(mode="approve", hold_down=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    draft = fe.approve(fe.pending[ADS].plan_id, "ola", 12)
    assert draft.after == fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0}
    with pytest.raises(LookupError):
        fe.approve(999, "ola", 13)


def test_dry_run_records_actions_that_are_never_sent(store):
    fe = FailoverEngine(failover(mode="dry-run", notice_mode="dry-run", hold_down=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    assert {a[3] for a in actions(store)} == {"dry_run"}
    assert {p[1] for p in plans(store)} == {"dry_run"}


def test_a_restart_resumes_gates_plans_and_freezes(store):
    fe = FailoverEngine(failover(hold_down=0, moves=1), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    fe.set_frozen((NOTICE, "fb"), True, "ola", "checking wording", 11)
    again = FailoverEngine(failover(hold_down=0, moves=1), store)
    again.load(12)
    assert again.gates == {"facebook": True}
    assert again.planned == fe.planned
    assert again.owners[(NOTICE, "fb")].frozen
    assert step(again, 13, views(facebook=DOWN)).empty   # nothing new to do after the restart
    with store.connect() as conn:
        reason = json.loads(conn.execute(select(FailoverPlanRow.reason)).scalars().first())
    assert reason["failed"] == ["facebook"]


@pytest.mark.parametrize("period", [5.0, 20.0, 59.0], ids=lambda p: f"flips-every-{p:g}s")
def test_a_channel_flipping_faster_than_the_hold_down_never_moves_anything(store, period):
    fe = FailoverEngine(failover(hold_down=60, failback_after=300), store)
    fe.load(0)
    now, state = 0.0, DOWN
    while now < 3600:
        for t in range(int(period)):  # a step every second, as the service's tick does
            step(fe, now + t, views(since=now, facebook=state))
        now += period
        state = UP if state is DOWN else DOWN
    assert plans(store) == [] and fe.gates == {}


def test_flapping_inputs_give_at_most_one_failover_and_one_failback(store):
    fe = FailoverEngine(failover(hold_down=10, failback_after=30), store)
    fe.load(0)
    timeline = [(0, DOWN), (12, UP), (15, DOWN), (20, UP), (25, DOWN), (29, UP)]  # settles up at 29
    for now in range(0, 200):
        since, state = max((t, s) for t, s in timeline if t <= now)
        step(fe, now, views(since=since, facebook=state))
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "applied"), ("ads", "applied")]
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}


def test_a_plan_names_the_incidents_that_caused_it(store):
    from sqlalchemy import insert

    from monitor.store.db import begin_write
    from monitor.store.models import IncidentRow
    with begin_write(store) as conn:
        incident = conn.execute(insert(IncidentRow).values(channel="facebook", started_at=5.0, cause="{}")).inserted_primary_key[0]
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    step(fe, 10, {**views(), "facebook": HealthView(DOWN, 5.0, cause={"check": "home"}, down_since=5.0)})
    with store.connect() as conn:
        reason = json.loads(conn.execute(select(FailoverPlanRow.reason)).scalars().first())
    assert reason["incidents"] == {"facebook": incident}
    assert reason["causes"] == {"facebook": {"check": "home", "down_since": 5.0}}
