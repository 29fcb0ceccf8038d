"""The admin API: token checks, manual overrides and maintenance windows on a running monitor."""

from __future__ import annotations

import asyncio
import json

import pytest

from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import Recorder, eventually, immediate_alerts
from tests.support.cli import run_cli
from tests.support.config import shops_config
from tests.support.service import TOKEN, alerts_drained, incidents, let_time_pass, state, with_admin_token


def admin_config(tmp_path, url, token=True):
    config = shops_config(tmp_path, ("allegro", url))
    return with_admin_token(config) if token else config


async def test_admin_api_is_off_without_a_token(tmp_path, aiohttp_client, fake_channel):
    client = await aiohttp_client(create_app(admin_config(tmp_path, fake_channel.url, token=False)))
    response = await client.put("/api/admin/channels/allegro/override", json={"state": "down", "by": "a", "reason": "b"})
    assert response.status == 403 and "set admin_token" in await response.text()


async def test_wrong_token_is_401_and_changes_nothing(tmp_path, aiohttp_client, fake_channel):
    config = admin_config(tmp_path, fake_channel.url)
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
        response = await client.put(
            "/api/admin/channels/allegro/override", headers=headers, json={"state": "down", "by": "mallory", "reason": "x"}
        )
        assert response.status == 401
    assert state(app, "allegro") == "up" and app[MONITOR].book.overrides == {}


async def test_override_forces_down_with_who_and_why_then_lifts(tmp_path, aiohttp_client, fake_channel):
    config = admin_config(tmp_path, fake_channel.url)
    recorder = Recorder()
    app = create_app(immediate_alerts(config), notifiers=[recorder], flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    response = await client.put(
        "/api/admin/channels/allegro/override",
        headers=TOKEN,
        json={"state": "down", "by": "ops@shop.pl", "reason": "planned shutdown", "expires_in": "1h"},
    )
    assert response.status == 200
    assert state(app, "allegro") == "down"  # at once, not at the next probe
    await eventually(lambda: len(incidents(app)) == 1)
    assert '"override_by": "ops@shop.pl"' in incidents(app)[0].cause
    await eventually(
        lambda: recorder.sent and recorder.sent[-1].summary == "Allegro (allegro): up -> down: set by ops@shop.pl: planned shutdown"
    )
    assert (await client.delete("/api/admin/channels/allegro/override?by=ops@shop.pl", headers=TOKEN)).status == 200
    assert state(app, "allegro") == "up"
    bad = await client.put("/api/admin/channels/allegro/override", headers=TOKEN, json={"state": "sideways", "by": "x", "reason": "y"})
    assert bad.status == 400
    assert (await client.put("/api/admin/channels/nope/override", headers=TOKEN, json={})).status == 404


async def test_maintenance_from_the_api_silences_a_failing_channel(tmp_path, aiohttp_client, fake_channel, clock):
    config = admin_config(tmp_path, fake_channel.url)
    recorder = Recorder()
    app = create_app(immediate_alerts(config), notifiers=[recorder], flush_interval=0.05, clock=clock)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    response = await client.post(
        "/api/admin/channels/allegro/maintenance", headers=TOKEN, json={"by": "ops", "reason": "Allegro API upgrade", "duration": "1500ms"}
    )
    assert response.status == 200 and state(app, "allegro") == "maintenance"
    fake_channel.mode = "error"
    checks = app[MONITOR].book.health["allegro"].checks
    await eventually(lambda: checks["home"].fails >= 2)  # past the threshold, inside the window
    assert state(app, "allegro") == "maintenance"
    await let_time_pass(app, 1.5)
    assert state(app, "allegro") == "down"  # the window ended while still failing
    await eventually(lambda: recorder.sent)
    hits = fake_channel.hits
    await eventually(lambda: fake_channel.hits >= hits + 2)  # failing results after the window ...
    await app[MONITOR].writer.flush()  # ... stored, with whatever alert they caused ...
    app[MONITOR].alerts.wake()
    await eventually(lambda: alerts_drained(app))  # ... and delivered: nothing else follows
    assert [(a.old_state, a.new_state) for a in recorder.sent] == [("maintenance", "down")]  # one alert, no up->down


async def test_override_and_threshold_progress_survive_a_restart(tmp_path, aiohttp_client, fake_channel):
    config = admin_config(tmp_path, fake_channel.url)
    config = config.model_copy(update={"defaults": config.defaults.model_copy(update={"fail_threshold": 100})})
    fake_channel.mode = "error"
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await client.put(
        "/api/admin/channels/allegro/override",
        headers=TOKEN,
        json={"state": "up", "by": "anna", "reason": "known false alarm", "expires_in": "1h"},
    )
    await eventually(
        lambda: "home" in app[MONITOR].book.health["allegro"].checks and app[MONITOR].book.health["allegro"].checks["home"].fails >= 3
    )
    await client.close()
    fails = app[MONITOR].book.health["allegro"].checks["home"].fails
    again = create_app(config, flush_interval=0.05)
    await aiohttp_client(again)
    restored = again[MONITOR].book.health["allegro"].checks["home"]
    assert restored.fails >= fails  # resumed mid-count, not from zero
    assert again[MONITOR].book.overrides["allegro"].by == "anna" and state(again, "allegro") == "up"


async def test_the_cli_forces_lifts_and_schedules_through_the_admin_api(tmp_path, aiohttp_client, fake_channel):
    app = create_app(admin_config(tmp_path, fake_channel.url), flush_interval=0.05)
    client = await aiohttp_client(app)
    url = str(client.make_url("")).rstrip("/")
    await eventually(lambda: state(app, "allegro") == "up")
    auth = ("--url", url, "--token", "s3cret-token", "--by", "ops@shop.pl")
    code, out, err = await run_cli("override", "allegro", "--state", "down", "--reason", "moving accounts", "--expires-in", "2h", *auth)
    assert code == 0, err
    assert out.startswith("allegro: forced down by ops@shop.pl until ") and state(app, "allegro") == "down"
    code, out, _ = await run_cli("override", "allegro", "--lift", *auth)
    assert (code, out) == (0, "allegro: override lifted by ops@shop.pl; its checks decide again\n")
    code, out, _ = await run_cli("maintenance", "allegro", "--duration", "1h", "--reason", "API upgrade", *auth)
    assert code == 0 and "maintenance from" in out and state(app, "allegro") == "maintenance"
    code, _, err = await run_cli(
        "override", "allegro", "--state", "up", "--reason", "x", "--url", url, "--token", "wrong", "--by", "mallory"
    )
    assert code == 2 and "the service refused (401)" in err
    code, _, err = await run_cli("override", "nope", "--state", "down", "--reason", "x", *auth)
    assert code == 2 and "no channel 'nope'" in err


async def test_racing_overrides_leave_the_stored_one_in_force(tmp_path, aiohttp_client, fake_channel):
    from monitor.store.persist import load_overrides

    app = create_app(admin_config(tmp_path, fake_channel.url), flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    puts = [
        client.put(
            "/api/admin/channels/allegro/override",
            headers=TOKEN,
            json={"state": "down" if i % 2 else "up", "by": f"ops{i}", "reason": f"race {i}"},
        )
        for i in range(12)
    ]
    assert {r.status for r in await asyncio.gather(*puts)} == {200}
    monitor = app[MONITOR]
    stored = load_overrides(monitor.engine, monitor.clock())
    assert stored["allegro"].by == monitor.book.overrides["allegro"].by  # what a restart would load is what is in force
    assert state(app, "allegro") == monitor.book.overrides["allegro"].state.value


async def test_a_maintenance_window_is_cancelled_at_once_and_for_good(tmp_path, aiohttp_client, fake_channel):
    config = admin_config(tmp_path, fake_channel.url)
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    now = await (
        await client.post(
            "/api/admin/channels/allegro/maintenance", headers=TOKEN, json={"by": "ops", "reason": "API upgrade", "duration": "1h"}
        )
    ).json()
    later = await (
        await client.post(
            "/api/admin/channels/allegro/maintenance",
            headers=TOKEN,
            json={"by": "ola", "reason": "move", "duration": "1h", "starts_in": "2h"},
        )
    ).json()
    assert isinstance(now["id"], int) and later["id"] != now["id"] and state(app, "allegro") == "maintenance"
    listed = await (await client.get("/api/admin/channels/allegro/maintenance", headers=TOKEN)).json()
    assert [(w["id"], w["reason"], w["by"], w["start"], w["active"]) for w in listed["windows"]] == [
        (now["id"], "API upgrade", "ops", now["start"], True),
        (later["id"], "move", "ola", later["start"], False),
    ]
    response = await client.delete(f"/api/admin/channels/allegro/maintenance/{now['id']}?by=ops", headers=TOKEN)
    assert await response.json() == {"channel": "allegro", "id": now["id"], "cancelled": True, "state": "up"}
    assert state(app, "allegro") == "up"  # at once, not when the window would have ended
    again = await client.delete(f"/api/admin/channels/allegro/maintenance/{now['id']}", headers=TOKEN)
    assert (again.status, await again.text()) == (
        404,
        f"'allegro' has no maintenance window {now['id']} added through "
        "the admin API (windows in the config are changed there); see GET "
        "/api/admin/channels/allegro/maintenance for the ids",
    )
    assert (await client.delete("/api/admin/channels/allegro/maintenance/soon", headers=TOKEN)).status == 400
    assert (await client.delete(f"/api/admin/channels/allegro/maintenance/{2**64}", headers=TOKEN)).status == 404
    assert (await client.delete(f"/api/admin/channels/allegro/maintenance/{later['id']}")).status == 401
    await client.close()
    restarted = create_app(config, flush_interval=0.05)
    await aiohttp_client(restarted)
    assert [(w.id, w.reason) for w in restarted[MONITOR].book.windows["allegro"]] == [(later["id"], "move")]
    await eventually(lambda: state(restarted, "allegro") == "up")


@pytest.mark.parametrize(
    ("path", "method", "body", "message"),
    [
        (
            "maintenance",
            "post",
            {"by": "ops", "reason": "upgrade", "duration": "soon"},
            "duration: 'soon' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d; "
            "fields: by, reason, duration, starts_in",
        ),
        (
            "override",
            "put",
            {"state": "down", "by": "ops", "reason": "move", "expires_in": "-1h"},
            "expires_in: '-1h' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d; "
            "fields: state, by, reason, expires_in",
        ),
        (
            "maintenance",
            "post",
            {"by": "", "reason": "upgrade", "duration": "1h", "when": "now"},
            "by: '' is not valid: string should have at least 1 character; when: unknown key 'when'; "
            "fields: by, reason, duration, starts_in",
        ),
    ],
    ids=["bad-duration", "bad-expiry", "empty-and-unknown-fields"],
)
async def test_a_bad_body_is_told_in_plain_words(tmp_path, aiohttp_client, fake_channel, path, method, body, message):
    client = await aiohttp_client(create_app(admin_config(tmp_path, fake_channel.url)))
    response = await getattr(client, method)(f"/api/admin/channels/allegro/{path}", headers=TOKEN, json=body)
    assert (response.status, await response.text()) == (400, message)


async def test_the_cli_lists_and_cancels_a_maintenance_window(tmp_path, aiohttp_client, fake_channel):
    app = create_app(admin_config(tmp_path, fake_channel.url), flush_interval=0.05)
    client = await aiohttp_client(app)
    url = str(client.make_url("")).rstrip("/")
    await eventually(lambda: state(app, "allegro") == "up")
    auth = ("--url", url, "--token", "s3cret-token")
    code, out, err = await run_cli("maintenance", "allegro", "--duration", "1h", "--reason", "API upgrade", "--by", "ops", *auth)
    assert code == 0, err
    window = app[MONITOR].book.windows["allegro"][0]
    window_id = int(out.rsplit("--cancel ", 1)[1].rstrip(")\n"))
    assert out.endswith(f"added by ops as window {window_id} (cancel it with --cancel {window_id})\n")
    code, out, _ = await run_cli("maintenance", "allegro", "--list", *auth)
    assert code == 0 and out.splitlines()[1].split("  ")[0] == str(window_id) and "API upgrade" in out
    code, out, _ = await run_cli("maintenance", "allegro", "--cancel", str(window_id), *auth)
    assert (code, state(app, "allegro")) == (2, "maintenance")  # no --by: nothing sent
    code, out, err = await run_cli("maintenance", "allegro", "--cancel", str(window_id), "--by", "ops", *auth)
    assert (code, out) == (0, f"allegro: maintenance window {window_id} cancelled by ops; the channel is up\n"), err
    assert state(app, "allegro") == "up" and window not in app[MONITOR].book.windows["allegro"]
    code, out, _ = await run_cli("maintenance", "allegro", "--list", "--json", *auth)
    assert json.loads(out) == {"channel": "allegro", "windows": []}
