"""The security headers on every answer: pages, JSON, and the errors aiohttp builds from raised exceptions
(unknown paths, bad queries, missing tokens, wrong methods, bodies too large)."""

from __future__ import annotations

import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.app import create_app
from monitor.web.headers import add_security_headers
from tests.support.config import shops_config

TOKEN = {"Authorization": "Bearer s3cret-token"}
OVERRIDE = "/api/admin/channels/allegro/override"
TOO_LARGE = b"x" * (1024**2 + 1)  # aiohttp's default client_max_size is 1 MiB


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/", {}, None, 200),
        ("GET", "/api/channels", {}, None, 200),
        ("GET", "/no/such/path", {}, None, 404),
        ("GET", "/channels/no-such", {}, None, 404),
        ("GET", "/incidents?page=abc", {}, None, 400),
        ("GET", "/api/channels/no-such", {}, None, 404),
        ("GET", "/api/channels/allegro/results?limit=abc", {}, None, 400),
        ("GET", "/api/failover", {}, None, 401),
        ("PUT", OVERRIDE, {}, b"{}", 401),
        ("PUT", OVERRIDE, {"Authorization": "Bearer wrong"}, b"{}", 401),
        ("POST", "/api/channels", {}, b"{}", 405),
        ("PUT", OVERRIDE, TOKEN, TOO_LARGE, 413),
    ],
    ids=[
        "overview",
        "api-channels",
        "unknown-path-404",
        "unknown-channel-page-404",
        "bad-page-query-400",
        "unknown-channel-api-404",
        "bad-limit-query-400",
        "failover-without-token-401",
        "admin-without-token-401",
        "admin-wrong-token-401",
        "wrong-method-405",
        "body-too-large-413",
    ],
)
async def test_every_answer_carries_the_security_headers(tmp_path, aiohttp_client, fake_channel, method, path, headers, body, status):
    config = shops_config(tmp_path, ("allegro", fake_channel.url))
    config = config.model_copy(update={"admin_token": SecretStr("s3cret-token")})
    assert config.show_failover is False  # so /api/failover needs the token
    client = await aiohttp_client(create_app(config, flush_interval=0.05))
    response = await client.request(method, path, headers=headers, data=body)
    assert response.status == status
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "no-referrer"


async def test_a_page_that_sets_its_own_policy_keeps_it(aiohttp_client):
    async def own(_request: web.Request) -> web.Response:
        return web.Response(text="hi", headers={"Content-Security-Policy": "default-src 'self'"})

    app = web.Application()
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/own", own)
    client = await aiohttp_client(app)
    response = await client.get("/own")
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_an_unhandled_error_answer_carries_them_too(aiohttp_client):
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application()
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 500 and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
