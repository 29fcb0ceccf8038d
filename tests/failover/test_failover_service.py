"""Failover end to end on loopback: real probes, the real service, a signed webhook receiver."""

from __future__ import annotations

import asyncio
import json

from monitor.app import create_app
from monitor.running import MONITOR
from monitor.store.models import AlertRow, FailoverActionRow, FailoverPlanRow
from tests.fakes import Recorder, eventually, immediate_alerts
from tests.support.failover import NORMAL, failover_config, shops_and_receiver, start
from tests.support.service import all_up, failover_step, rows


async def test_outage_moves_the_promotion_and_posts_the_notice_and_recovery_undoes_it(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    fakes["facebook"].mode = "error"
    await eventually(
        lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0} and ("fb-down", "shop") in receiver.notices
    )
    assert receiver.amounts[("ads", "facebook")] == 20000  # paused, its budget left as it was
    fakes["facebook"].mode = "ok"
    await eventually(lambda: receiver.spending("ads") == NORMAL and not receiver.notices)
    assert receiver.rejected == [] and receiver.duplicates() == 0
    first = receiver.deliveries[0]
    assert first["reason"]["failed"] == ["facebook"] and first["unit"] == "PLN" and first["attempt"] == 1
    plans = rows(app, FailoverPlanRow)
    assert [(p.owner, p.status) for p in plans] == [("ads", "applied"), ("fb-down", "applied"), ("ads", "applied"), ("fb-down", "applied")]
    assert json.loads(plans[0].reason)["failed"] == ["facebook"]
    cause = json.loads(plans[0].reason)["causes"]["facebook"]
    assert cause["error_class"] == "http_status" and cause["down_since"] <= plans[0].at
    # The receiver has answered the last action; the relay records it a moment later.
    await eventually(lambda: {a.status for a in rows(app, FailoverActionRow)} == {"applied"})
    actions = rows(app, FailoverActionRow)
    assert [(a.op, a.channel, a.value, a.expect) for a in actions if a.plan_id == plans[0].id] == [
        ("set_amount", "shop", 62500, 50000),
        ("set_amount", "allegro", 37500, 30000),
        ("pause", "facebook", 0, 20000),
    ]
    assert [(a.op, a.channel, a.value) for a in actions if a.plan_id == plans[2].id] == [
        ("set_amount", "shop", 50000),
        ("set_amount", "allegro", 30000),
        ("set_amount", "facebook", 20000),
        ("resume", "facebook", 20000),
    ]
    api = await (await client.get("/api/failover")).json()
    assert api["promotions"][0]["planned"] == NORMAL and api["promotions"][0]["applied"] == NORMAL


async def test_dry_run_records_the_plan_and_sends_nothing(tmp_path, aiohttp_server, aiohttp_client):
    app, _client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="dry-run", notice_mode="dry-run")
    fakes["shop"].mode = "error"
    await eventually(lambda: any(p.status == "dry_run" and p.owner == "ads" for p in rows(app, FailoverPlanRow)))
    actions = rows(app, FailoverActionRow)
    assert actions and {a.status for a in actions} == {"dry_run"}
    assert receiver.deliveries == []


async def test_approve_mode_waits_for_a_person(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="approve")
    fakes["allegro"].mode = "error"
    await eventually(lambda: any(p.status == "pending_approval" for p in rows(app, FailoverPlanRow)))
    pending = next(p for p in rows(app, FailoverPlanRow) if p.status == "pending_approval")
    assert not [d for d in receiver.deliveries if d["promotion"] == "ads"]
    denied = await client.post(f"/api/admin/failover/plans/{pending.id}/approve", json={"by": "ola"})
    assert denied.status in (401, 403)
    assert app[MONITOR].failover.pending  # nothing changed
    auth = {"Authorization": "Bearer test-admin-token-1234"}
    # Two people approve at the same moment: one approval carries it out, the other is told it is done.
    both = await asyncio.gather(
        *(client.post(f"/api/admin/failover/plans/{pending.id}/approve", json={"by": "ola"}, headers=auth) for _ in range(2))
    )
    assert sorted(r.status for r in both) == [200, 409], [await r.text() for r in both]
    await eventually(lambda: receiver.spending("ads") == {"shop": 71429, "allegro": 0, "facebook": 28571})
    again = await client.post(f"/api/admin/failover/plans/{pending.id}/approve", json={"by": "ola"}, headers=auth)
    assert again.status == 409
    plan = next(p for p in rows(app, FailoverPlanRow) if p.id == pending.id)
    assert (plan.status, plan.decided_by) == ("approved", "ola")
    for missing in ("999", "0", "100000000000000000000"):  # an id no database holds is no plan either
        r = await client.post(f"/api/admin/failover/plans/{missing}/approve", json={"by": "ola"}, headers=auth)
        assert (r.status, (await r.text()).split(";")[0]) == (404, f"there is no plan {missing}")


async def test_a_rejected_plan_moves_nothing_and_is_not_asked_again(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client, mode="approve")
    fakes["allegro"].mode = "error"
    await eventually(lambda: any(p.status == "pending_approval" for p in rows(app, FailoverPlanRow)))
    pending = next(p for p in rows(app, FailoverPlanRow) if p.status == "pending_approval")
    auth = {"Authorization": "Bearer test-admin-token-1234"}
    r = await client.post(
        f"/api/admin/failover/plans/{pending.id}/reject", json={"by": "ola", "reason": "allegro says minutes"}, headers=auth
    )
    assert (r.status, await r.json()) == (200, {"plan": pending.id, "status": "rejected"})
    again = await client.post(f"/api/admin/failover/plans/{pending.id}/reject", json={"by": "ola"}, headers=auth)
    assert again.status == 409 and "it is rejected" in await again.text()
    missing = await client.post("/api/admin/failover/plans/999/reject", json={"by": "ola"}, headers=auth)
    assert missing.status == 404
    # (that the same move is not asked for again is tested with a clock in tests/failover/test_engine.py)
    assert [(p.status, p.decided_by) for p in rows(app, FailoverPlanRow) if p.owner == "ads"] == [("rejected", "ola")]
    assert receiver.spending("ads") == NORMAL


async def test_freeze_stops_moves_until_unfrozen(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    auth = {"Authorization": "Bearer test-admin-token-1234"}
    r = await client.post("/api/admin/failover/promotions/ads/freeze", json={"by": "ola", "reason": "campaign review"}, headers=auth)
    assert r.status == 200
    fakes["facebook"].mode = "error"
    await eventually(lambda: ("fb-down", "shop") in receiver.notices)  # the notice is not frozen
    assert receiver.spending("ads") == NORMAL
    summary = await (await client.get("/api/failover")).json()
    assert summary["promotions"][0]["frozen"] and summary["promotions"][0]["reason"] == "campaign review"
    r = await client.post("/api/admin/failover/promotions/ads/unfreeze", json={"by": "ola"}, headers=auth)
    assert r.status == 200
    await eventually(lambda: receiver.spending("ads") == {"shop": 62500, "allegro": 37500, "facebook": 0})
    missing = await client.post("/api/admin/failover/promotions/nope/freeze", json={"by": "ola"}, headers=auth)
    assert missing.status == 404


async def test_a_receiver_error_is_retried_with_the_same_key_while_other_moves_go_ahead(tmp_path, aiohttp_server, aiohttp_client):
    app, _client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    receiver.script["facebook"].extend([500])  # the failed channel's API fails once
    receiver.script["allegro"].extend([400])  # and this one refuses for good
    fakes["facebook"].mode = "error"
    await eventually(lambda: receiver.spending("ads")["facebook"] == 0, timeout=10)
    assert receiver.amounts[("ads", "shop")] == 62500
    assert receiver.amounts[("ads", "allegro")] == 30000  # refused: not applied
    pause = [d for d in receiver.deliveries if d["op"] == "pause"]
    assert len(pause) == 2 and pause[0]["id"] == pause[1]["id"] and pause[1]["attempt"] == 2
    await eventually(
        lambda: {(a.channel, a.op): a.status for a in rows(app, FailoverActionRow)}[("allegro", "set_amount")] == "failed"
    )  # recorded by the relay after the answer


async def test_a_change_made_outside_the_service_is_a_conflict_that_freezes_the_promotion(tmp_path, aiohttp_server, aiohttp_client):
    app, client, fakes, receiver = await start(tmp_path, aiohttp_server, aiohttp_client)
    receiver.script["shop"].extend([409])  # a person changed the shop's budget by hand meanwhile
    fakes["facebook"].mode = "error"
    await eventually(
        lambda: (
            app[MONITOR].failover.owners.get(("promotion", "ads")) is not None and app[MONITOR].failover.owners[("promotion", "ads")].frozen
        )
    )
    statuses = {(a.channel, a.op): a.status for a in rows(app, FailoverActionRow)}
    assert statuses[("shop", "set_amount")] == "conflict"
    assert receiver.amounts[("ads", "shop")] == 50000  # not overwritten
    summary = await (await client.get("/api/failover")).json()
    assert summary["promotions"][0]["reason"].startswith("conflict on Shop: ")
    fakes["facebook"].mode = "ok"  # recovery does not touch a frozen promotion either
    await eventually(lambda: app[MONITOR].book.health["facebook"].state.value == "up")
    await failover_step(app[MONITOR])  # the step the recovery asked for is done
    assert len([p for p in rows(app, FailoverPlanRow) if p.owner == "ads"]) == 1


async def test_failover_alerts_are_stored_with_the_plan_not_after_it(tmp_path, aiohttp_server, aiohttp_client):
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    recorder = Recorder()
    config = failover_config(tmp_path, {c: f.url for c, f in fakes.items()}, receiver.url)
    app = create_app(immediate_alerts(config), notifiers=[recorder], flush_interval=0.05)
    await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all_up(app))
    await eventually(lambda: not monitor.writer.depth)
    monitor.writer_task.cancel()  # the result writer is stuck: nothing it holds reaches the database

    async def stuck() -> None:
        return None

    monitor.writer.flush = stuck
    before = {a.id for a in rows(app, AlertRow)}  # the first "up" of each channel
    fakes["facebook"].mode = "error"
    await eventually(lambda: any(p.owner == "ads" for p in rows(app, FailoverPlanRow)))
    stored = [a for a in rows(app, AlertRow) if a.id not in before]
    assert {a.event for a in stored} == {"failover_planned"}  # "facebook down" waits in the stuck writer
    assert {a.channel for a in stored} == {"ads", "fb-down"}
    await eventually(lambda: {a.event for a in recorder.sent} >= {"failover_planned"})


async def test_the_down_alert_is_stored_before_the_failover_alerts_it_causes(tmp_path, aiohttp_server, aiohttp_client):
    fakes, receiver = await shops_and_receiver(aiohttp_server)
    config = failover_config(tmp_path, {c: f.url for c, f in fakes.items()}, receiver.url)
    # A slow writer: without the flush before the failover commit, the plan's alerts would come first.
    app = create_app(config, notifiers=[Recorder()], flush_interval=5)
    await aiohttp_client(app)
    await eventually(lambda: all_up(app))
    fakes["facebook"].mode = "error"
    await eventually(lambda: any(a.event == "failover_planned" for a in rows(app, AlertRow)), timeout=10)
    stored = rows(app, AlertRow)
    down = next(a.id for a in stored if a.event == "state" and a.key.startswith("down:facebook:"))
    planned = next(a.id for a in stored if a.event == "failover_planned" and a.channel == "ads")
    assert down < planned
