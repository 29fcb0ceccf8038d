"""No configured secret on any page, API answer or log line, even when a receiver echoes what it was sent: a 500
quoting the X-Api-Key header and the webhook's path (Slack, Zapier and n8n keep their token there)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from monitor.app import create_app
from monitor.config import parse_config
from monitor.running import MONITOR
from tests.fakes import FakeChannel, eventually

API_KEY = "key-secret-4242-abcdef"
PATH_TOKEN = "T0K3N-in-the-path-9876"
SIGNING = "signing-secret-0123456789abc"
ADMIN = {"Authorization": "Bearer test-admin-token-1234"}


def echo_app() -> web.Application:
    """A careless receiver: 500, quoting every header and the path it got."""

    async def echo(request: web.Request) -> web.Response:
        said = f"cannot handle {request.path} with headers {dict(request.headers)}"
        return web.json_response({"error": said, "message": said}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def test_an_echoing_receiver_puts_no_secret_on_pages_api_or_log(tmp_path, aiohttp_server, aiohttp_client, caplog):
    shop = FakeChannel()
    shop_url = str((await aiohttp_server(shop.app)).make_url("/"))
    receiver = await aiohttp_server(echo_app(), access_log=None)  # its own access log would show the path
    hook = f"http://127.0.0.1:{receiver.port}/hook/{PATH_TOKEN}"
    text = "\n".join(
        [
            f"data_dir: {tmp_path}",
            "allow_networks: [127.0.0.0/8]",
            "admin_token: test-admin-token-1234",
            "defaults: {interval: 200ms, timeout: 150ms, fail_threshold: 2, recover_threshold: 2}",
            f"channels: [{{id: shop, name: Shop, checks: [{{kind: http, target: '{shop_url}'}}]}}, "
            f"{{id: allegro, name: Allegro, checks: [{{kind: http, target: '{shop_url}'}}]}}]",
            "alerts:",
            "  group_wait: 100ms",
            "  notifiers:",
            f"    - {{id: n8n, kind: webhook, url: '{hook}', secret: {SIGNING}, headers: {{X-Api-Key: {API_KEY}}}}}",
            "failover:",
            "  timing: {hold_down: 0s, failback_after: 0s, settle: 0s}",
            "  actuators:",
            f"    - {{id: shop-hook, kind: webhook, url: '{hook}/failover', secret: {SIGNING}, headers: {{X-Api-Key: {API_KEY}}}}}",
            "  promotions:",
            "    - {id: ads, name: Ads, total: 1000, unit: PLN, mode: auto, channels: "
            "{shop: {share: 1, actuator: shop-hook}, allegro: {share: 1, actuator: shop-hook}}}",
        ]
    )
    app = create_app(parse_config(text), flush_interval=0.05)
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    with caplog.at_level(logging.DEBUG):
        await eventually(lambda: all(h.state.value == "up" for h in monitor.book.health.values()))
        shop.mode = "error"
        await eventually(lambda: monitor.alerts.problems, timeout=15)
        await eventually(lambda: _action_errors(monitor), timeout=15)
        shown = {
            "overview": await (await client.get("/")).text(),
            "channels": await (await client.get("/api/channels")).text(),
            "failover": await (await client.get("/api/failover", headers=ADMIN)).text(),
            "notifiers (admin)": await (await client.get("/api/admin/notifiers", headers=ADMIN)).text(),
            "metrics": (await (await client.get("/metrics")).read()).decode(),
            "log": "\n".join(r.getMessage() for r in caplog.records),
        }
    for where, text in shown.items():
        for secret in (API_KEY, PATH_TOKEN, SIGNING):
            assert secret not in text, f"{secret} in {where}"
    # The admin API and the log still say what went wrong, with the secret replaced.
    details = json.loads(shown["notifiers (admin)"])["notifiers"]["n8n"]
    assert "HTTP 500" in details["last_error"] and "***" in details["last_error"]
    assert "webhook n8n (http://127.0.0.1:" in details["last_error"]
    assert any("***" in e for e in _action_errors(monitor))
    # The public page says that alerts fail, not the receiver's words, host or port.
    assert "n8n: failing since " in shown["overview"] and f":{receiver.port}" not in shown["overview"]


def _action_errors(monitor) -> list[str]:
    from sqlalchemy import select

    from monitor.store.models import FailoverActionRow

    with monitor.engine.connect() as conn:
        return [e for e in conn.execute(select(FailoverActionRow.last_error)).scalars() if e]


def test_every_form_a_receiver_may_echo_a_secret_in_is_known():
    from alerts.webhook import Config
    from monitor.core.redact import scrub, secret_values

    config = Config(
        url="http://hookuser:s3cr3t-basic-pass-777@127.0.0.1:9/webhook/a1b2c3d4-path-token-9876?token=q-secret-55",
        secret="signing-secret-0123456789",
        headers={"Authorization": "Bearer tok-secret-1234567890abcdef"},
    )
    echoes = [
        "Cannot POST /webhook/a1b2c3d4-path-token-9876",  # Express: the path alone
        'The requested webhook "POST a1b2c3d4-path-token-9876" is not registered',  # n8n: one segment
        "invalid token tok-secret-1234567890abcdef",  # the token without "Bearer"
        "Authorization was Basic aG9va3VzZXI6czNjcjN0LWJhc2ljLXBhc3MtNzc3",  # the URL's userinfo as sent
        "query token q-secret-55 expired",
    ]
    secrets = secret_values(config)
    for echo in echoes:
        shown = scrub(echo, secrets)
        assert "***" in shown and not any(s in shown for s in ("a1b2c3d4", "tok-secret", "aG9va3Vz", "q-secret-55")), shown


async def test_a_secret_at_the_cut_leaves_nothing_of_itself(aiohttp_server):
    from alerts.base import Batch, NotifierContext, NotifyError
    from alerts.webhook import KIND
    from tests.fakes import LOOPBACK
    from tests.support.alerts import SHOP_DOWN

    async def long_echo(request: web.Request) -> web.Response:  # the key straddles the 200-character cut
        return web.json_response({"error": "x" * 190 + " key=" + request.headers["X-Api-Key"]}, status=500)

    app = web.Application()
    app.router.add_post("/hook", long_echo)
    server = await aiohttp_server(app)
    options = KIND.config.model_validate(
        {"url": f"http://127.0.0.1:{server.port}/hook", "secret": SIGNING, "headers": {"X-Api-Key": API_KEY}}
    )
    notifier = KIND.build("n", options, NotifierContext(logging.getLogger("t"), guard=LOOPBACK))
    try:
        await notifier.send(Batch((SHOP_DOWN,), "n"))
    except NotifyError as exc:
        assert API_KEY[:6] not in str(exc), str(exc)
    else:
        raise AssertionError("a 500 must fail")
    finally:
        await notifier.close()
