"""Alerts: wording, the log line, and the router's grouping, threading, retries and fallback chain."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from alerts import NOTIFIERS
from alerts.base import Alert, Batch
from alerts.log import LogNotifier
from alerts.wording import Wording
from monitor.app import create_app
from monitor.running import MONITOR
from tests.fakes import Recorder, eventually, immediate_alerts
from tests.support.alerts import meta_down
from tests.support.config import shops_config
from tests.support.service import let_time_pass, state

DOWN = Alert("allegro", "Allegro", "up", "down", 100.0, {"check": "home", "error_class": "http_status", "error": "HTTP 503"})


def test_summary_says_what_broke_and_how_long():
    assert DOWN.summary == "Allegro (allegro): up -> down: home http_status: HTTP 503"
    up = Alert("allegro", "Allegro", "down", "up", 3825.0, {"check": "home"}, down_for=3725.0)
    assert up.summary == "Allegro (allegro): down -> up (down for 1h 2m)"


def test_registry_has_the_log_notifier():
    assert NOTIFIERS["log"].build("log", NOTIFIERS["log"].config(), _ctx()).id == "log"


def _ctx():
    from alerts.base import NotifierContext

    return NotifierContext(logging.getLogger("test"))


@pytest.mark.parametrize(
    "alerts, title",
    [
        (
            meta_down(),
            "4 channels down: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business — DNS resolvers failed to answer (SERVFAIL)",
        ),
        ([DOWN], "Allegro is down — HTTP 503"),
        ([Alert("allegro", "Allegro", "down", "up", 5000.0, {}, down_for=21720.0)], "Allegro is back up after 6h 2m"),
        (
            meta_down() + [Alert("facebook-shop", "Facebook Shop", "down", "up", 200.0, {}, down_for=100.0)],
            "4 channel alerts: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business",
        ),
        (
            [Alert("shop", "Shop", "up", "degraded", 1.0, {"check": "tls", "error_class": "tls_expiring", "error": "expires in 5 days"})],
            "Shop is degraded — TLS: expires in 5 days",
        ),
        (
            [
                Alert("monitor-connectivity", "Monitor", "", "", 1.0, {}, event="connectivity_lost", detail="9 of 10 failing"),
                Alert("monitor-connectivity", "Monitor", "", "", 9.0, {}, event="connectivity_restored", detail="probes answer again"),
            ],
            "The monitor is connected again (probes answer again)",
        ),
        (
            [
                DOWN,
                Alert("allegro", "Allegro", "down", "up", 2.0, {}, down_for=1.0),
                Alert("allegro", "Allegro", "", "", 3.0, {}, event="flapping_started", detail="80% state changes"),
                Alert("allegro", "Allegro", "up", "down", 4.0, {}, flapping=True),
            ],
            "Allegro is flapping (80% state changes)",
        ),
        (
            [
                Alert("allegro", "Allegro", "", "", 3.0, {}, event="flapping_started", detail="80% state changes"),
                Alert("allegro", "Allegro", "down", "up", 9.0, {}, down_for=8.0),
                Alert("allegro", "Allegro", "", "", 9.0, {}, event="flapping_stopped", detail="10% state changes; now up"),
            ],
            "Allegro is back up after 8s",
        ),
        (
            meta_down(1.0) + [Alert("messenger", "Messenger", "", "", 60.0, {}, event="flapping_started", detail="60% state changes")],
            "4 channels down: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business — DNS resolvers failed to answer "
            "(SERVFAIL) (flapping: Messenger)",
        ),
        (
            [
                meta_down(1.0)[2],
                Alert("messenger", "Messenger", "", "", 60.0, {}, event="flapping_started", detail="60% state changes"),
                Alert("messenger", "Messenger", "down", "up", 900.0, {}, down_for=899.0),
            ],
            "Messenger is back up after 14m 59s",
        ),
    ],
    ids=[
        "2021-grouped",
        "one-down",
        "recovered",
        "mixed",
        "cert-expiring",
        "connectivity-restored",
        "flapping",
        "flapping-ended",
        "one-of-four-flapping",
        "recovered-after-flapping-without-stopped",
    ],
)
def test_titles_in_plain_words(alerts, title):
    assert Wording().title(alerts) == title


def test_lines_name_the_cause_and_certificate_expiry():
    w = Wording()
    assert w.line(meta_down()[0]) == "Facebook Shop is down: DNS: SERVFAIL from 127.0.0.1:53 for facebook.com"
    assert (
        w.line(Alert("shop", "Shop", "up", "degraded", 1.0, {"check": "tls", "error_class": "tls_expiring", "error": "expires in 5 days"}))
        == "Shop: the TLS certificate expires soon (expires in 5 days)"
    )
    assert (
        w.line(Alert("m", "Monitor", "", "", 1.0, {}, event="connectivity_lost", detail="all 2 control targets fail"))
        == "The monitor lost its own connectivity (all 2 control targets fail): channel states are frozen, no failover runs"
    )


async def test_log_notifier_warns_on_down(caplog):
    with caplog.at_level(logging.INFO, logger="monitor.alerts"):
        await LogNotifier().send(Batch((DOWN,), "log"))
    [record] = caplog.records
    assert (record.levelno, record.getMessage(), record.channel, record.new) == (logging.WARNING, DOWN.summary, "allegro", "down")


async def test_service_alerts_down_and_recovery_with_duration(tmp_path, aiohttp_client, fake_channel):
    recorder = Recorder()
    app = create_app(immediate_alerts(shops_config(tmp_path, ("allegro", fake_channel.url))), notifiers=[recorder], flush_interval=0.05)
    await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    fake_channel.mode = "ok"
    await eventually(lambda: len(recorder.sent) == 2)
    down, up = recorder.sent  # the first sighting (unknown -> up) is not alerted
    assert [(a.old_state, a.new_state) for a in recorder.sent] == [("up", "down"), ("down", "up")]
    assert down.cause["error"] == "HTTP 503" and down.key == up.key and down.key.startswith("down:allegro:")
    assert up.down_for is not None and 0.2 < up.down_for < 5


async def test_a_broken_notifier_shows_on_the_status_page_and_in_the_api(tmp_path, aiohttp_client, fake_channel):
    broken = Recorder(fail=True)
    config = immediate_alerts(shops_config(tmp_path, ("allegro", fake_channel.url)))
    config = config.model_copy(update={"admin_token": SecretStr("test-admin-token-1234")})
    app = create_app(config, notifiers=[broken], flush_interval=0.05)
    client = await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    await eventually(lambda: app[MONITOR].alerts.problems)
    page = await (await client.get("/")).text()
    assert "Alerts are not getting through" in page and "recorder: not delivering since " in page
    body = await (await client.get("/api/channels")).json()
    assert list(body["alert_problems"]) == ["recorder"] and "invalid_auth" not in page + str(body)  # no receiver text
    denied = await client.get("/api/admin/notifiers")
    assert denied.status == 401
    details = await (await client.get("/api/admin/notifiers", headers={"Authorization": "Bearer test-admin-token-1234"})).json()
    assert details["notifiers"]["recorder"]["last_error"] == "invalid_auth" and details["notifiers"]["recorder"]["broken"]


async def test_reminders_while_down_in_the_incidents_thread(tmp_path, aiohttp_client, fake_channel, clock):
    recorder = Recorder()
    config = immediate_alerts(shops_config(tmp_path, ("allegro", fake_channel.url)))
    config = config.model_copy(update={"alerts": config.alerts.model_copy(update={"reminder_every": 1.0})})
    app = create_app(config, notifiers=[recorder], flush_interval=0.05, clock=clock)
    await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    await let_time_pass(app, 0)  # the tick sees it down
    for sent in (1, 2):
        await let_time_pass(app, 1.0)
        # Each reminder delivered before the next falls due: two in one batch are one (the router dedupes a reminder race).
        await eventually(lambda n=sent: len([a for a in recorder.sent if a.event == "reminder"]) >= n)
    down = next(a for a in recorder.sent if a.new_state == "down")
    reminders = [a for a in recorder.sent if a.event == "reminder"]
    assert {a.key for a in reminders} == {down.key} and reminders[0].summary.startswith("Still down: Allegro (allegro) for ")
    assert reminders[1].down_for - reminders[0].down_for >= 0.9
