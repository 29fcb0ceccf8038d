"""Alerts: the log notifier's line, ordered delivery, and a failing notifier not stopping the others."""
from __future__ import annotations

import logging

from alerts import NOTIFIERS
from alerts.base import Alert, Notifier, NotifyError
from alerts.log import LogNotifier
from alerts.router import AlertRouter
from monitor.app import create_app
from tests.fakes import eventually
from tests.test_app import config_for, state

DOWN = Alert("allegro", "Allegro", "up", "down", 100.0, {"check": "home", "error_class": "http_status", "error": "HTTP 503"})


class Recorder(Notifier):
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Alert] = []
        self.fail = fail

    async def send(self, alert: Alert) -> None:
        if self.fail:
            raise NotifyError("invalid_auth", permanent=True)
        self.sent.append(alert)


def test_summary_says_what_broke_and_how_long():
    assert DOWN.summary == "Allegro (allegro): up -> down: home http_status: HTTP 503"
    up = Alert("allegro", "Allegro", "down", "up", 3825.0, {"check": "home"}, down_for=3725.0)
    assert up.summary == "Allegro (allegro): down -> up (down for 1h 2m)"


def test_registry_has_the_log_notifier():
    assert NOTIFIERS["log"] is LogNotifier


async def test_log_notifier_warns_on_down(caplog):
    with caplog.at_level(logging.INFO, logger="monitor.alerts"):
        await LogNotifier().send(DOWN)
    [record] = caplog.records
    assert (record.levelno, record.getMessage(), record.channel, record.new) == (logging.WARNING, DOWN.summary, "allegro", "down")


async def test_router_delivers_in_order_and_survives_a_failing_notifier(caplog):
    broken, good = Recorder(fail=True), Recorder()
    router = AlertRouter([broken, good])
    router.start()
    alerts = [DOWN, Alert("allegro", "Allegro", "down", "up", 160.0, down_for=60.0)]
    for alert in alerts:
        router.publish(alert)
    await router.stop()
    assert good.sent == alerts
    assert "Recorder could not deliver an alert for allegro: invalid_auth (permanent)" in caplog.text


async def test_service_alerts_down_and_recovery_with_duration(tmp_path, aiohttp_client, fake_channel):
    recorder = Recorder()
    app = create_app(config_for(tmp_path, ("allegro", fake_channel.url)), notifiers=[recorder], flush_interval=0.05)
    await aiohttp_client(app)
    await eventually(lambda: state(app, "allegro") == "up")
    fake_channel.mode = "error"
    await eventually(lambda: state(app, "allegro") == "down")
    fake_channel.mode = "ok"
    await eventually(lambda: len(recorder.sent) == 2)
    down, up = recorder.sent  # the first sighting (unknown -> up) is not alerted
    assert [(a.old_state, a.new_state) for a in recorder.sent] == [("up", "down"), ("down", "up")]
    assert down.cause["error"] == "HTTP 503"
    assert up.down_for is not None and 0.2 < up.down_for < 5
