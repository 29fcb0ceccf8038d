"""The reconciler without the service: gates, plans, freezes and approvals, stored and reloaded.

Health is given directly as HealthView values; the database is real (SQLite, and PostgreSQL where
the test takes `db_url`).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from monitor.failover.config import Failover
from monitor.failover.engine import NOTICE, PROMOTION, FailoverEngine, NoSuchPlan
from monitor.failover.gate import HealthView
from monitor.health import State
from monitor.store.db import make_engine
from monitor.store.models import FailoverActionRow, FailoverPlanRow

UP, DOWN, DEGRADED, UNKNOWN, MAINT = State.UP, State.DOWN, State.DEGRADED, State.UNKNOWN, State.MAINTENANCE
ADS = (PROMOTION, "ads")


def failover(mode="auto", hold_down=60.0, failback_after=300.0, moves=4, notice_mode="auto", settle=0.0) -> Failover:
    return Failover.model_validate(
        {
            "timing": {"hold_down": hold_down, "failback_after": failback_after, "max_moves_per_hour": moves, "settle": settle},
            "actuators": [{"id": "hook", "kind": "log"}],
            "promotions": [
                {
                    "id": "ads",
                    "name": "Ads",
                    "total": 1000,
                    "mode": mode,
                    "channels": {
                        "shop": {"share": 50, "actuator": "hook"},
                        "allegro": {"share": 30, "actuator": "hook"},
                        "facebook": {"share": 20, "actuator": "hook"},
                    },
                }
            ],
            "notices": [
                {
                    "id": "fb",
                    "when_down": "facebook",
                    "post_on": ["shop"],
                    "actuator": "hook",
                    "text": "Facebook is down",
                    "mode": notice_mode,
                }
            ],
        }
    )


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
    assert step(fe, 159, down).empty  # inside the 60 s hold-down: nothing
    decision = step(fe, 160, down)
    assert decision.gates == {"facebook": True}
    assert fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0}
    assert fe.planned[(NOTICE, "fb")] == {"shop": 1}
    back = views(since=200)
    assert step(fe, 499, back).empty  # healthy, but not for 300 s yet
    step(fe, 500, back)
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}
    # The failback supersedes whatever of the failover was not sent yet (values are absolute).
    assert actions(store) == [
        ("set_amount", "shop", 625, "superseded"),
        ("set_amount", "allegro", 375, "superseded"),
        ("pause", "facebook", 0, "superseded"),
        ("post_notice", "shop", 1, "superseded"),
        ("set_amount", "shop", 500, "pending"),
        ("set_amount", "allegro", 300, "pending"),
        ("set_amount", "facebook", 200, "pending"),
        ("resume", "facebook", 200, "pending"),
        ("withdraw_notice", "shop", 0, "pending"),
    ]


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
    step(fe, 20, views(facebook=DOWN))  # settles down: one failover
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


def test_too_many_outages_in_an_hour_freeze_the_promotion_until_a_person_unfreezes_it(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0, moves=2), store)
    fe.load(0)
    for t in (10, 30):  # two outages, each out and back: two episodes
        step(fe, t, views(facebook=DOWN))
        step(fe, t + 10, views(since=t + 10))
    assert fe.planned[ADS]["facebook"] == 200 and not fe.owners.get(ADS)
    decision = step(fe, 50, views(facebook=DOWN))  # the third outage within the hour
    assert [e[0] for e in decision.events if e[1] == ADS] == ["failover_frozen"]
    assert fe.owners[ADS].frozen and fe.planned[ADS]["facebook"] == 200
    assert fe.owners[ADS].reason == (
        "2 moves took money away from a channel in the last hour (limit 2); unfreeze it when the channels are stable"
    )
    fe.set_frozen(ADS, False, "ola", "", 60)
    step(fe, 61, views(facebook=DOWN))
    assert fe.planned[ADS]["facebook"] == 0


def test_only_moves_that_take_money_away_count_and_the_way_back_is_never_refused(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0, moves=1), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))  # out: takes Facebook's money (1 move)
    assert fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0} and len(fe.moves[ADS]) == 1
    decision = step(fe, 20, views(facebook=DOWN, allegro=DOWN))  # a second failure would take Allegro's: refused
    assert [e[0] for e in decision.events if e[1] == ADS] == ["failover_frozen"]
    assert fe.owners[ADS].frozen and fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0}
    step(fe, 30, views(since=30))  # back: frozen by the limit, it still gives back
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200} and fe.owners[ADS].frozen
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "applied")] * 2
    assert len(fe.moves[ADS]) == 1  # giving back never counts
    again = FailoverEngine(failover(hold_down=0, failback_after=0, moves=1), store)
    again.load(41)  # the count survives a restart, counted the same way
    assert list(again.moves[ADS]) == [10]


def test_a_frozen_promotion_by_a_person_does_not_move_back_either(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    fe.set_frozen(ADS, True, "ola", "checking the shop", 11)
    step(fe, 20, views(since=20))
    assert fe.planned[ADS] == {"shop": 625, "allegro": 375, "facebook": 0}


def test_a_channel_that_keeps_failing_inside_a_long_outage_is_frozen_by_the_limit(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0, moves=2), store)
    fe.load(0)
    shop = HealthView(DOWN, 1, down_since=1)
    step(fe, 1, views(shop=shop))  # a long shop outage
    for i in range(10):  # Allegro fails and recovers 10 times in 10 minutes
        t = 60 + 60 * i
        step(fe, t, views(shop=shop, allegro=HealthView(DOWN, t, down_since=t)))
        step(fe, t + 30, views(shop=shop, allegro=HealthView(UP, t + 30)))
    # shop out, Allegro out (2 moves), Allegro back (given back, not counted); Allegro out again: frozen
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "applied")] * 3
    assert fe.owners[ADS].frozen and fe.planned[ADS] == {"shop": 0, "allegro": 300, "facebook": 700}


def test_channels_failing_within_the_settle_window_are_planned_together(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0, settle=5), store)
    fe.load(0)
    assert step(fe, 10.0, views(facebook=DOWN)).plans == []  # Facebook failed over: wait for others
    assert step(fe, 10.85, views(facebook=DOWN, allegro=DOWN)).plans == []  # Allegro 0.85 s later
    assert step(fe, 15.0, views(facebook=DOWN, allegro=DOWN)).plans == []  # 4.15 s of quiet: not yet
    decision = step(fe, 15.85, views(facebook=DOWN, allegro=DOWN))
    assert [d.owner for d in decision.plans] == [ADS, (NOTICE, "fb")]
    assert fe.planned[ADS] == {"shop": 1000, "allegro": 0, "facebook": 0}
    assert step(fe, 100.0, views(since=100, allegro=DOWN)).plans == []  # both back 0.85 s apart: one plan back
    assert step(fe, 100.85, views(since=100)).plans == [] and step(fe, 105.8, views(since=100)).plans == []
    assert [d.owner for d in step(fe, 105.85, views(since=100)).plans] == [ADS, (NOTICE, "fb")]
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "applied")] * 2


def test_a_channel_that_keeps_changing_cannot_postpone_a_failover_past_four_settle_windows(store):
    fe = FailoverEngine(failover(hold_down=0, settle=5), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    for i, t in enumerate(range(11, 30)):  # allegro flips every second
        assert step(fe, t, views(facebook=DOWN, allegro=UNKNOWN if i % 2 else UP)).plans == []
    assert [d.owner for d in step(fe, 30, views(facebook=DOWN, allegro=UNKNOWN)).plans] == [ADS, (NOTICE, "fb")]


def test_a_channel_back_from_failover_gets_its_own_amount_and_never_more_while_another_is_still_out(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN, allegro=DOWN))
    assert fe.planned[ADS] == {"shop": 1000, "allegro": 0, "facebook": 0}
    step(fe, 20, views(since=20, facebook=DOWN))  # Allegro back first, Facebook still out
    assert fe.planned[ADS] == {"shop": 700, "allegro": 300, "facebook": 0}  # not 437/563 on Allegro
    step(fe, 30, views(since=30))
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}


def test_every_plan_of_an_outage_carries_its_key_failback_included(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0), store)
    fe.load(0)
    out = step(fe, 10, views(facebook=HealthView(DOWN, 5, down_since=4.6)))
    back = step(fe, 20, views(since=20))
    keys = [e[3] for e in (*out.events, *back.events)]
    assert keys == ["down:facebook:4"] * 4  # promotion and notice, out and back
    with store.connect() as conn:
        reasons = [json.loads(r) for r in conn.execute(select(FailoverPlanRow.reason)).scalars()]
    assert [r["key"] for r in reasons] == ["down:facebook:4"] * 4


def test_the_outage_key_survives_a_restart_in_the_middle_of_the_outage(store):
    fe = FailoverEngine(failover(hold_down=0, failback_after=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=HealthView(DOWN, 5, down_since=4.6)))
    again = FailoverEngine(failover(hold_down=0, failback_after=0), store)
    again.load(15)
    assert {e[3] for e in step(again, 20, views(since=20)).events} == {"down:facebook:4"}


def test_alert_texts_name_channels_and_show_money_in_major_units(store):
    config = failover(hold_down=0).model_copy(
        update={"promotions": [failover().promotions[0].model_copy(update={"unit": "PLN", "total": 261539})]}
    )
    fe = FailoverEngine(config, store, {"shop": "Own shop", "allegro": "Allegro", "facebook": "Facebook Shop"})
    fe.load(0)
    events = {e[1]: e[2] for e in step(fe, 10, views(facebook=DOWN)).events}
    assert events[ADS] == ("Own shop 1,307.69 PLN -> 1,634.62 PLN, Allegro 784.62 PLN -> 980.77 PLN, Facebook Shop 523.08 PLN -> 0.00 PLN")
    assert events[(NOTICE, "fb")] == "post on Own shop"


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
    with pytest.raises(NoSuchPlan, match="there is no plan 999"):
        fe.approve(999, "ola", 13)
    for huge in (0, -1, 2**63, 10**20):  # beyond any stored id: no database error
        with pytest.raises(NoSuchPlan, match=f"there is no plan {huge};"):
            fe.approve(huge, "ola", 13)
    with pytest.raises(LookupError, match=f"plan {draft_id(store)} is not waiting for approval: it is approved"):
        fe.approve(draft_id(store), "ola", 14)


def test_a_rejected_plan_moves_nothing_and_is_not_asked_again_until_the_move_changes(store):
    fe = FailoverEngine(failover(mode="approve", hold_down=0, failback_after=0), store)
    fe.load(0)
    step(fe, 10, views(facebook=DOWN))
    plan_id = fe.pending[ADS].plan_id
    draft = fe.reject(plan_id, "ola", 12)
    assert draft.status == "rejected" and ADS not in fe.pending
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}  # nothing moved
    assert [p for p in plans(store) if p[0] == "ads"] == [("ads", "rejected")]
    assert step(fe, 13, views(facebook=DOWN)).plans == []  # the same move: not asked for again
    with pytest.raises(LookupError, match=f"plan {plan_id} is not waiting for approval: it is rejected"):
        fe.approve(plan_id, "ola", 14)
    asked = step(fe, 20, views(facebook=DOWN, allegro=DOWN))  # a different move: asked anew
    assert ("failover_approval_needed", ADS) in [(e[0], e[1]) for e in asked.events]
    step(fe, 30, views(since=30))  # the need ends: the rejection is forgotten
    step(fe, 40, views(facebook=DOWN))
    assert ADS in fe.pending  # asked again for the next outage


def draft_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(FailoverPlanRow.id).where(FailoverPlanRow.owner == "ads")).scalar()


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
    assert step(again, 13, views(facebook=DOWN)).empty  # nothing new to do after the restart
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


def test_a_placement_whose_buyers_land_on_a_failed_channel_is_failed_over_with_it(store):
    config = Failover.model_validate(
        {
            "timing": {"hold_down": 0, "failback_after": 0, "settle": 0},
            "actuators": [{"id": "hook", "kind": "log"}],
            "promotions": [
                {
                    "id": "ads",
                    "name": "Ads",
                    "total": 1000,
                    "mode": "auto",
                    "channels": {
                        "shop": {"share": 50, "actuator": "hook"},
                        "allegro": {"share": 30, "actuator": "hook"},
                        "facebook": {"share": 20, "actuator": "hook", "lands_on": "shop"},
                    },
                }
            ],
        }
    )
    fe = FailoverEngine(config, store)
    fe.load(0)
    decision = step(fe, 10, views(shop=DOWN))  # Facebook itself is fine, but its ads send buyers to the shop
    assert fe.planned[ADS] == {"shop": 0, "allegro": 1000, "facebook": 0}
    assert decision.plans[0].reason["failed"] == ["shop"] and decision.plans[0].reason["lands_on"] == {"facebook": "shop"}
    step(fe, 20, views(since=20, facebook=DOWN))  # the shop is back, Facebook itself is down now
    assert fe.planned[ADS] == {"shop": 500, "allegro": 500, "facebook": 0}
    step(fe, 30, views(since=30))
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}


def test_a_notice_goes_only_where_customers_can_read_it(store):
    fe = FailoverEngine(failover(hold_down=60), store)
    fe.load(0)
    # Facebook failed over while the shop (where the notice goes) is down inside its hold-down: no notice there.
    step(fe, 100, views(since=0, facebook=DOWN, shop=HealthView(DOWN, 90)))
    assert fe.gates == {"facebook": True} and fe.planned[(NOTICE, "fb")] == {"shop": 0}
    step(fe, 120, views(since=0, facebook=DOWN, shop=HealthView(UP, 110)))  # the shop is back up: posted now
    assert fe.planned[(NOTICE, "fb")] == {"shop": 1}
    step(fe, 130, views(since=0, facebook=DOWN, shop=HealthView(DOWN, 125)))  # inside its hold-down: it stays
    assert fe.planned[(NOTICE, "fb")] == {"shop": 1}
    step(fe, 185, views(since=0, facebook=DOWN, shop=HealthView(DOWN, 125)))  # failed over: withdrawn
    assert fe.planned[(NOTICE, "fb")] == {"shop": 0}


def promotion_config(channels: dict, total: int = 1000, mode: str = "auto", settle: float = 0.0, **extra) -> Failover:
    return Failover.model_validate(
        {
            "timing": {"hold_down": 0, "failback_after": 0, "settle": settle},
            "actuators": [{"id": "hook", "kind": "log"}],
            "promotions": [{"id": "ads", "name": "Ads", "total": total, "mode": mode, "channels": channels}],
            **extra,
        }
    )


TWO = {"shop": {"share": 50, "actuator": "hook"}, "allegro": {"share": 50, "actuator": "hook"}}


def last_plan(engine) -> FailoverPlanRow:
    with engine.connect() as conn:
        return conn.execute(select(FailoverPlanRow).order_by(FailoverPlanRow.id.desc())).first()


def test_a_channel_whose_maintenance_ends_during_a_failover_takes_its_part(store):
    fe = FailoverEngine(
        promotion_config(
            {
                "shop": {"share": 50, "actuator": "hook"},
                "allegro": {"share": 25, "actuator": "hook", "max": 400},
                "facebook": {"share": 25, "actuator": "hook"},
            }
        ),
        store,
    )
    fe.load(0)
    step(fe, 10, views(shop=DOWN, facebook=MAINT))  # Allegro takes up to its max, Facebook holds: 350 unplaced
    assert fe.planned[ADS] == {"shop": 0, "allegro": 400, "facebook": 250} and last_plan(store).unallocated == 350
    step(fe, 20, views(shop=DOWN))  # the maintenance is over, the shop still down
    assert fe.planned[ADS] == {"shop": 0, "allegro": 400, "facebook": 600} and last_plan(store).unallocated == 0


def test_a_cap_lowered_between_restarts_is_kept(store):
    fe = FailoverEngine(promotion_config(TWO), store)
    fe.load(0)
    step(fe, 10, views(shop=DOWN))
    assert fe.planned[ADS] == {"shop": 0, "allegro": 1000}
    capped = {**TWO, "allegro": {"share": 50, "actuator": "hook", "max": 600}}
    again = FailoverEngine(promotion_config(capped), store)
    again.load(20)
    for t in (20, 21):
        step(again, t, views(shop=DOWN))
    assert again.planned[ADS] == {"shop": 0, "allegro": 600} and last_plan(store).unallocated == 400


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (1100, {"shop": 0, "allegro": 122, "facebook": 978}),  # the new 100 placed (what the receivers carried stays)
        (900, {"shop": 0, "allegro": 100, "facebook": 800}),  # planned afresh: the old plan is more than the total
    ],
    ids=["raised", "lowered"],
)
def test_a_total_changed_between_restarts_is_placed_in_full(store, total, expected):
    channels = {
        "shop": {"share": 10, "actuator": "hook"},
        "allegro": {"share": 10, "actuator": "hook"},
        "facebook": {"share": 80, "actuator": "hook"},
    }
    fe = FailoverEngine(promotion_config(channels), store)
    fe.load(0)
    step(fe, 10, views(shop=DOWN))
    assert fe.planned[ADS] == {"shop": 0, "allegro": 111, "facebook": 889}
    again = FailoverEngine(promotion_config(channels, total=total), store)
    again.load(20)
    assert step(again, 20, views(shop=DOWN)).plans  # a plan is written: the new total is placed
    assert again.planned[ADS] == expected and last_plan(store).unallocated == 0
    assert step(again, 21, views(shop=DOWN)).empty


def test_the_outage_key_is_of_a_channel_the_promotion_uses(store):
    config = promotion_config(TWO, settle=10)
    fe = FailoverEngine(config, store)
    fe.load(0)
    shop_down = HealthView(DOWN, 100, down_since=100)
    other_down = HealthView(DOWN, 103, down_since=103)  # a channel in no promotion, down later
    step(fe, 100, views(shop=shop_down))
    step(fe, 103, views(shop=shop_down, facebook=other_down))
    decision = step(fe, 113, views(shop=shop_down, facebook=other_down))
    assert [e[3] for e in decision.events if e[1] == ADS] == ["down:shop:100"]


def test_a_notice_is_keyed_by_its_own_channels(store):
    fe = FailoverEngine(failover(hold_down=0), store)
    fe.load(0)
    decision = step(fe, 10, views(facebook=HealthView(DOWN, 5, down_since=5), allegro=HealthView(DOWN, 8, down_since=8)))
    assert {e[1]: e[3] for e in decision.events} == {ADS: "down:allegro:8", (NOTICE, "fb"): "down:facebook:5"}


def test_a_plan_after_the_outage_ended_is_not_threaded_under_it(store):
    fe = FailoverEngine(promotion_config(TWO), store)
    fe.load(0)
    step(fe, 100, views(shop=HealthView(DOWN, 100, down_since=100)))
    step(fe, 200, views(since=200))  # the outage is over, back at normal
    assert fe.planned[ADS] == {"shop": 500, "allegro": 500} and not fe.episodes
    again = FailoverEngine(promotion_config(TWO, total=2000), store)  # days later, a new total
    again.load(900000)
    assert again.episodes == {}
    decision = step(again, 900000, views())
    assert [e[3] for e in decision.events if e[1] == ADS] == [""] and "key" not in decision.plans[0].reason


def test_a_restart_during_an_outage_keeps_its_key_only_while_a_channel_of_the_promotion_is_failed(store):
    fe = FailoverEngine(promotion_config(TWO), store)
    fe.load(0)
    step(fe, 100, views(shop=HealthView(DOWN, 100, down_since=100)))
    again = FailoverEngine(promotion_config(TWO), store)
    again.load(150)
    assert again.episodes == {ADS: "down:shop:100"}


def test_a_request_for_approval_is_withdrawn_while_the_channels_settle_and_a_stale_one_is_refused(store):
    fe = FailoverEngine(promotion_config(TWO, mode="approve", settle=30), store)
    fe.load(0)
    shop = HealthView(DOWN, 100, down_since=100)
    step(fe, 100, views(shop=shop))
    step(fe, 131, views(shop=shop))
    plan_id = fe.pending[ADS].plan_id  # "move the shop's money to Allegro?"
    decision = step(fe, 200, views(since=200))  # the shop is back before anyone answered
    assert decision.superseded == {ADS} and ADS not in fe.pending  # withdrawn at once, not when settled
    with pytest.raises(LookupError, match=f"plan {plan_id} is not waiting for approval: it is superseded"):
        fe.approve(plan_id, "ola", 205)
    assert fe.planned[ADS] == {"shop": 500, "allegro": 500}


def test_approving_a_plan_the_engine_would_no_longer_propose_is_refused(store):
    channels = {
        "shop": {"share": 50, "actuator": "hook"},
        "allegro": {"share": 30, "actuator": "hook"},
        "facebook": {"share": 20, "actuator": "hook"},
    }
    fe = FailoverEngine(promotion_config(channels, mode="approve", settle=30), store)
    fe.load(0)
    step(fe, 100, views(shop=DOWN))
    step(fe, 130, views(shop=DOWN))
    plan_id = fe.pending[ADS].plan_id  # the shop's 500 to Allegro and Facebook
    step(fe, 140, views(shop=DOWN, allegro=DOWN))  # Allegro fails too, not settled yet
    assert fe.pending[ADS].plan_id == plan_id  # still listed until a new plan replaces it
    with pytest.raises(
        LookupError,
        match=f"plan {plan_id} no longer matches what failover would do now "
        r"\(shop 500 -> 0, allegro 300 -> 0, facebook 200 -> 1,000\): the channels changed since it was proposed",
    ):
        fe.approve(plan_id, "ola", 141)
    assert fe.planned[ADS] == {"shop": 500, "allegro": 300, "facebook": 200}


def test_a_request_of_a_promotion_no_longer_configured_is_withdrawn_at_start(store):
    both = Failover.model_validate(
        {
            "timing": {"hold_down": 0, "failback_after": 0, "settle": 0},
            "actuators": [{"id": "hook", "kind": "log"}],
            "promotions": [
                {"id": "ads", "name": "Ads", "total": 1000, "mode": "approve", "channels": TWO},
                {"id": "old", "name": "Old", "total": 1000, "mode": "approve", "channels": TWO},
            ],
        }
    )
    fe = FailoverEngine(both, store)
    fe.load(0)
    step(fe, 10, views(shop=DOWN))
    old_plan = fe.pending[(PROMOTION, "old")].plan_id
    again = FailoverEngine(promotion_config(TWO, mode="approve"), store)  # "old" removed from the config
    again.load(20)
    assert set(again.pending) == {ADS}
    with store.connect() as conn:
        row = conn.execute(select(FailoverPlanRow).where(FailoverPlanRow.id == old_plan)).first()
    assert (row.status, row.decided_by, row.decided_at) == ("superseded", "monitor", 20)
    with pytest.raises(LookupError, match=f"plan {old_plan} is not waiting for approval: it is superseded"):
        again.approve(old_plan, "ola", 21)
