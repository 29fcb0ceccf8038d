"""Alerts end to end: the real service, four loopback shops, a fake Slack Web API and a real SMTP server."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from monitor.app import create_app
from monitor.config import parse_config
from monitor.running import MONITOR
from tests.fakes import FakeChannel, eventually
from tests.fakes_slack import TOKEN, FakeSlack
from tests.support.alerts import Inbox
from tests.support.cli import free_port

SHOPS = {
    "facebook-shop": "Facebook Shop",
    "instagram-shop": "Instagram Shop",
    "messenger": "Messenger",
    "whatsapp-business": "WhatsApp Business",
}
SMTP_PASSWORD = "smtp-pass-never-shown-42"


async def world(tmp_path, aiohttp_server):
    shops = {c: FakeChannel() for c in SHOPS}
    urls = {c: str((await aiohttp_server(s.app)).make_url("/")) for c, s in shops.items()}
    slack = FakeSlack()
    slack.url = str((await aiohttp_server(slack.app)).make_url("/"))
    return shops, urls, slack


def config(tmp_path, urls, slack: FakeSlack, smtp_port: int, token: str = TOKEN):
    lines = [
        f"data_dir: {tmp_path}",
        "allow_networks: [127.0.0.0/8]",
        "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 2, recover_threshold: 2}",
        "connectivity: {max_failing_share: 1.0}",  # four of four failing is the test, not our network
        "channels:",
    ]
    lines += [f"  - {{id: {c}, name: '{n}', group: social, checks: [{{kind: http, target: '{urls[c]}'}}]}}" for c, n in SHOPS.items()]
    lines += [
        "alerts:",
        "  group_wait: 1s",
        "  fallback_after: 1m",
        "  status_url: 'http://status.example/'",
        "  notifiers:",
        f"    - {{id: slack, kind: slack, token: '{token}', channel: '#ops', base_url: '{slack.url}api/', min_interval: 0.05}}",
        f"    - {{id: mail, kind: email, host: 127.0.0.1, port: {smtp_port}, security: none, sender: alerts@shop.example,"
        f" to: [ops@shop.example], timeout: 5}}",
        "  routes: [{to: [slack, mail]}]",
    ]
    return parse_config("\n".join(lines))


async def test_four_failures_are_one_message_updated_in_place_on_recovery(tmp_path, aiohttp_server, aiohttp_client, caplog):
    shops, urls, slack = await world(tmp_path, aiohttp_server)
    registry = CollectorRegistry()
    app = create_app(config(tmp_path, urls, slack, free_port()), registry=registry, flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    with caplog.at_level(logging.DEBUG):
        for shop in shops.values():
            shop.mode = "error"
        await eventually(lambda: slack.top_level(), timeout=10)
        [message] = slack.top_level()
        assert message.text == "4 channels down: Facebook Shop, Instagram Shop, Messenger, WhatsApp Business — HTTP 503"
        await eventually(lambda: len(slack.replies(message.ts)) == 1)
        shops["facebook-shop"].mode = "ok"
        await eventually(lambda: slack.messages[message.ts].versions, timeout=10)  # chat.update, not a new message
        assert len(slack.top_level()) == 1
        assert "Facebook Shop" in slack.messages[message.ts].text
        await eventually(lambda: len(slack.replies(message.ts)) == 2)
    page = await (await client.get("/")).text()
    shown = caplog.text + page + app[MONITOR].metrics.render().decode()
    assert TOKEN not in shown and SMTP_PASSWORD not in shown
    assert registry.get_sample_value("channel_monitor_alerts_total", {"notifier": "slack", "outcome": "sent"}) >= 2


async def test_a_revoked_slack_token_falls_back_to_email(tmp_path, aiohttp_server, aiohttp_client):
    from aiosmtpd.controller import Controller

    shops, urls, slack = await world(tmp_path, aiohttp_server)
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=5)
    smtp.start()
    try:
        app = create_app(config(tmp_path, urls, slack, port, token="xoxb-revoked-0000-token"), flush_interval=0.05)
        client = await aiohttp_client(app)
        monitor = app[MONITOR]
        await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
        shops["messenger"].mode = "error"
        await eventually(lambda: inbox.messages, timeout=10)
        [mail] = inbox.messages
        assert mail["Subject"] == "[channel-monitor] Messenger is down — HTTP 503"
        assert slack.count("chat.postMessage") == 1  # invalid_auth: tried once, not again
        page = await (await client.get("/")).text()
        assert "Alerts are not getting through" in page and "slack" in page
        assert "xoxb-revoked-0000-token" not in page
    finally:
        smtp.stop()


async def test_slack_down_across_a_restart_then_everything_once_in_order(tmp_path, aiohttp_server, aiohttp_client):
    shops, urls, slack = await world(tmp_path, aiohttp_server)
    for _ in range(200):
        slack.fail("chat.postMessage", FakeSlack.http(500))
    cfg = config(tmp_path, urls, slack, free_port())
    cfg = cfg.model_copy(
        update={"alerts": cfg.alerts.model_copy(update={"routes": [cfg.alerts.routes[0].model_copy(update={"to": ["slack"]})]})}
    )
    app = create_app(cfg, flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
    shops["messenger"].mode = "error"
    await eventually(lambda: monitor.book.health["messenger"].state.value == "down")
    shops["whatsapp-business"].mode = "error"
    await eventually(lambda: monitor.book.health["whatsapp-business"].state.value == "down")
    await eventually(lambda: slack.count("chat.postMessage") >= 1, timeout=10)
    await client.close()  # the service stops; Slack is still down
    slack.script["chat.postMessage"].clear()  # ... and comes back
    app = create_app(cfg, flush_interval=0.05)
    await aiohttp_client(app)
    await eventually(lambda: len(slack.top_level()) >= 1, timeout=15)
    texts = [m.text for m in slack.top_level()]
    assert texts == ["2 channels down: Messenger, WhatsApp Business — HTTP 503"] or texts == [
        "Messenger is down — HTTP 503",
        "WhatsApp Business is down — HTTP 503",
    ]
