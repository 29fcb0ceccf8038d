"""Webhook notifier against a loopback receiver that verifies signatures and deduplicates like a real one."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from alerts.base import Alert, Batch, NotifierContext, NotifyError
from alerts.webhook import KIND, Config, WebhookNotifier
from monitor.core.signing import HEADER, SignatureError, verify
from tests.fakes import LOOPBACK
from tests.support.probes import closed_port

SECRET = "whsec-0123456789abcdef-alerts"
DNS = {"check": "home", "error_class": "dns_servfail", "error": "SERVFAIL from 127.0.0.1:53"}
DOWN = (
    Alert("allegro", "Allegro", "up", "down", 1_700_000_000.0, DNS, key="down:allegro:1700000000", id=41),
    Alert("shop", "Shop", "up", "degraded", 1_700_000_001.5, {"check": "cart", "error_class": "http_status", "error": "HTTP 503"}, id=42),
    Alert("ebay", "Ebay", "down", "up", 1_700_000_002.0, {}, down_for=90.0, id=43),
)
LOG = logging.getLogger("tests.alerts.webhook")


class Receiver:
    """What a seller's endpoint should do: verify the signature first, then drop repeated Idempotency-Keys."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.url = ""
        self.skew = 0.0  # the receiver's clock minus the real one: ages every request it sees
        self.status = 200  # answer with this instead of accepting
        self.answer_headers: dict[str, str] = {}
        self.error = "busy"
        self.accepted: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.app = web.Application()
        self.app.router.add_post("/hook", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: the signature covers them, not re-serialised JSON
        self.requests.append((dict(request.headers), body))
        try:
            verify(self.secret, body, request.headers.get(HEADER, ""), now=time.time() + self.skew)
        except SignatureError as exc:
            return web.json_response({"error": str(exc)}, status=401)
        if self.status != 200:
            return web.json_response({"error": self.error}, status=self.status, headers=self.answer_headers)
        key = request.headers["Idempotency-Key"]
        if key in self.accepted:
            self.duplicates += 1
        else:
            self.accepted[key] = json.loads(body)
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver(aiohttp_server):
    receiver = Receiver(SECRET)
    server = await aiohttp_server(receiver.app, host="127.0.0.1")
    receiver.url = str(server.make_url("/hook"))
    return receiver


@pytest.fixture
async def make():
    built: list[WebhookNotifier] = []

    def make(url: str, secret: str = SECRET, **options: Any) -> WebhookNotifier:
        config = KIND.config.model_validate({"url": url, "secret": secret, "timeout": 5, **options})
        notifier = KIND.build("hook", config, NotifierContext(LOG, guard=LOOPBACK))
        built.append(notifier)
        return notifier

    yield make
    for notifier in built:
        await notifier.close()


async def test_delivers_a_signed_batch_once(receiver, make):
    hook = make(receiver.url, headers={"X-Shop": "acme"})
    batch = Batch(DOWN, "hook", "https://status.example.com/")
    await hook.send(batch)
    await hook.send(batch)  # a retry after a lost answer: the receiver must see it as the same delivery
    assert len(receiver.requests) == 2 and receiver.duplicates == 1
    [(key, body)] = receiver.accepted.items()
    headers = receiver.requests[0][0]
    assert key == body["id"] == "hook:41-43"
    assert headers["Content-Type"] == "application/json" and headers["X-Shop"] == "acme"
    assert body["title"] == "3 channel alerts: Allegro, Ebay, Shop"
    assert body["severity"] == "critical" and body["status_url"] == "https://status.example.com/"
    assert [a["severity"] for a in body["alerts"]] == ["critical", "warning", "info"]
    assert body["alerts"][0] == {
        "id": 41,
        "event": "state",
        "severity": "critical",
        "channel": "allegro",
        "channel_name": "Allegro",
        "old_state": "up",
        "new_state": "down",
        "at": "2023-11-14T22:13:20.000Z",
        "cause": DNS,
        "down_for": None,
        "detail": "",
        "key": "down:allegro:1700000000",
        "line": "Allegro is down: DNS: SERVFAIL from 127.0.0.1:53",
    }
    assert body["alerts"][2]["down_for"] == 90.0 and body["alerts"][2]["line"] == "Ebay is up again after 1m 30s down"


async def test_a_server_error_is_temporary(receiver, make):
    receiver.status = 500
    with pytest.raises(NotifyError) as caught:
        await make(receiver.url).send(Batch(DOWN, "hook"))
    assert not caught.value.permanent and caught.value.retry_after is None
    assert "HTTP 500: busy" in str(caught.value)


async def test_too_many_requests_is_temporary_with_retry_after(receiver, make):
    receiver.status, receiver.answer_headers = 429, {"Retry-After": "30"}
    with pytest.raises(NotifyError) as caught:
        await make(receiver.url).send(Batch(DOWN, "hook"))
    assert not caught.value.permanent and caught.value.retry_after == 30.0


async def test_not_found_is_permanent(receiver, make):
    receiver.status = 404
    with pytest.raises(NotifyError) as caught:
        await make(receiver.url).send(Batch(DOWN, "hook"))
    assert caught.value.permanent and "HTTP 404" in str(caught.value)


async def test_a_closed_port_is_temporary(make):
    with pytest.raises(NotifyError) as caught:
        await make(f"http://127.0.0.1:{closed_port()}/hook").send(Batch(DOWN, "hook"))
    assert not caught.value.permanent and "unreachable: connection refused by 127.0.0.1:" in str(caught.value)


async def test_the_receiver_rejects_wrong_secrets_tampered_bodies_and_replays(receiver, make):
    with pytest.raises(NotifyError) as caught:
        await make(receiver.url, secret="someone-elses-secret-value").send(Batch(DOWN, "hook"))
    assert caught.value.permanent and "HTTP 401: signature does not match" in str(caught.value)

    await make(receiver.url).send(Batch(DOWN, "hook"))
    headers, body = receiver.requests[-1]
    resend = {k: v for k, v in headers.items() if k in ("Content-Type", "Idempotency-Key", HEADER)}
    async with aiohttp.ClientSession() as http:
        tampered = body.replace(b'"critical"', b'"info"', 1)
        async with http.post(receiver.url, data=tampered, headers=resend) as resp:
            assert resp.status == 401 and "altered body" in (await resp.json())["error"]
        receiver.skew = 301.0  # the same request, captured and sent again five minutes later
        async with http.post(receiver.url, data=body, headers=resend) as resp:
            assert resp.status == 401 and "replayed" in (await resp.json())["error"]
    assert len(receiver.accepted) == 1 and receiver.duplicates == 0


async def test_no_secret_or_url_credentials_in_errors_or_logs(receiver, make, caplog):
    receiver.status, receiver.error = 503, f"cannot verify with {SECRET}"  # a careless receiver echoing it
    secrets = "hookuser:url-pass-9876@", "?token=query-secret-5432"
    url = receiver.url.replace("http://", "http://" + secrets[0]) + secrets[1]
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifyError) as caught:
        await make(url).send(Batch(DOWN, "hook"))
    # Scheme, host and the notifier's id only: no user, no path, no query.
    assert "cannot verify with ***" in str(caught.value) and "webhook hook (http://127.0.0.1:" in str(caught.value)
    assert "hookuser" not in str(caught.value) and "/hook" not in str(caught.value).replace("webhook hook", "")
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifyError) as unreachable:
        await make(f"http://{secrets[0]}127.0.0.1:{closed_port()}/hook{secrets[1]}").send(Batch(DOWN, "hook"))
    # The receiver's own access log shows its query string; everything on the sending side must not.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    for shown in (str(caught.value), str(unreachable.value), ours):
        assert SECRET not in shown and "url-pass-9876" not in shown and "query-secret-5432" not in shown


def test_config_validation():
    assert Config.model_validate({"url": "https://hooks.example.com/a", "secret": SECRET}).timeout == 10
    for bad, words in [
        ({"url": "ftp://user:pw-1234@host/x"}, "ftp://host ... is not an http(s) URL (the rest is not shown"),
        ({"secret": "short-pw-1234"}, "${"),
        ({"headers": {"idempotency-key": "x"}}, "set by the webhook notifier itself"),
        ({"headers": {"X-Channel-Monitor-Signature": "x"}}, "set by the webhook notifier itself"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "line break"),
    ]:
        with pytest.raises(ValidationError) as caught:
            Config.model_validate({"url": "https://hooks.example.com/a", "secret": SECRET, **bad})
        [shown] = [str(e["ctx"]["error"]) for e in caught.value.errors()]  # what monitor/config_errors.py shows
        assert words in shown and "pw-1234" not in shown
