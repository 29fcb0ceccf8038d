"""HTTP probe expectations beyond status: regexes, content type, redirect limits, phases, conditions."""

from __future__ import annotations

import json

import pytest
from aiohttp import web


async def serve(aiohttp_server, handler, path="/") -> str:
    app = web.Application()
    app.router.add_get(path, handler)
    server = await aiohttp_server(app)
    return str(server.make_url(path))


def text(body: str, content_type: str = "text/html"):
    async def handler(_request):
        return web.Response(text=body, content_type=content_type)

    return handler


@pytest.mark.parametrize(
    "options,ok,error",
    [
        ({"body_matches": [r"cena:\s*\d+,\d{2} zł"]}, True, None),
        ({"body_matches": [r"koszyk \(\d+\)"]}, False, r"body does not match 'koszyk \\(\\d+\\)'"),
        ({"body_not_matches": [r"captcha|robot"]}, False, "body matches 'captcha|robot' ('Robot')"),
    ],
    ids=["matches", "does-not-match", "forbidden-pattern"],
)
async def test_body_regexes(aiohttp_server, run_check, options, ok, error):
    url = await serve(aiohttp_server, text("<p>Cena: 129,99 zł</p><p>Are you a Robot?</p>"))
    r = (await run_check(url, **options)).result
    assert (r.ok, r.error) == (ok, error)


async def test_html_captcha_instead_of_json_is_content_type(aiohttp_server, run_check):
    url = await serve(aiohttp_server, text("<html>captcha</html>"))
    r = (await run_check(url, content_type="application/json")).result
    assert (r.error_class, r.error) == ("content_type", "expected application/json, got text/html")


async def test_json_conditions_read_the_body(aiohttp_server, run_check):
    url = await serve(aiohttp_server, text(json.dumps({"status": "ERROR", "error_code": "ERROR_AUTH"}), "application/json"))
    outcome = await run_check(url, conditions=['[BODY].status == "SUCCESS"', "[STATUS] == 200"])
    assert outcome.result.error_class == "condition_failed"
    assert outcome.result.error == "[BODY].status == \"SUCCESS\" failed: actual 'ERROR'"
    assert [(c.condition, c.ok, c.actual) for c in outcome.conditions] == [
        ('[BODY].status == "SUCCESS"', False, "ERROR"),
        ("[STATUS] == 200", True, 200),
    ]


async def test_conditions_that_hold_leave_the_result_ok(aiohttp_server, run_check):
    url = await serve(aiohttp_server, text(json.dumps({"status": "SUCCESS"}), "application/json"))
    outcome = await run_check(url, conditions=['[BODY].status == "SUCCESS"', "[RESPONSE_TIME] < 2s"])
    assert outcome.result.ok and all(c.ok for c in outcome.conditions)


async def test_redirect_limit(aiohttp_server, run_check):
    async def hop(request):
        n = int(request.query.get("n", "0"))
        if n < 3:
            raise web.HTTPFound(f"/?n={n + 1}")
        return web.Response(text="arrived")

    url = await serve(aiohttp_server, hop)
    ok = (await run_check(url, max_redirects=3)).result
    assert ok.ok and ok.facts["redirects"] == 3
    too_many = (await run_check(url, max_redirects=2)).result
    assert too_many.error_class == "http_status" and too_many.error.startswith("too many redirects")


async def test_phase_timings_are_facts(aiohttp_server, run_check):
    url = await serve(aiohttp_server, text("ok"))
    facts = (await run_check(url.replace("127.0.0.1", "localhost"))).result.facts
    assert {"dns_seconds", "connect_seconds", "first_byte_seconds", "response_time_seconds"} <= set(facts)
    assert 0 <= facts["first_byte_seconds"] <= facts["response_time_seconds"]


async def test_bad_regex_is_a_config_error():
    from monitor.config import ConfigError
    from tests.support.probes import build_check

    with pytest.raises(ConfigError) as info:
        build_check("http://127.0.0.1/", body_matches=["(unclosed"])
    assert "body_matches: '(unclosed' is not a regular expression: missing ), unterminated subpattern at position 0" in str(info.value)


def test_urls_in_error_text_lose_credentials_and_query_strings():
    """Error text reaches the public status page: a redirect's Location must not leak tokens."""
    from probes.http_errors import short

    assert (
        short(Exception("redirect to ftp://bob:pw@evil.example/x?token=abc, stopped"))
        == "redirect to ftp://bob:***@evil.example/x?*** stopped"
    )


async def test_phases_are_summed_over_redirect_hops(aiohttp_server, run_check, monkeypatch):
    import asyncio

    from monitor.metrics import http_phases
    from tests.support.probes import fake_resolver, v4

    async def final(_request):
        return web.Response(text="arrived")

    final_url = await serve(aiohttp_server, final)  # on 127.0.0.1: the second hop needs no lookup

    async def first(_request):
        raise web.HTTPFound(final_url)

    first_url = await serve(aiohttp_server, first)

    async def slow_lookup(host, port):
        await asyncio.sleep(0.3)  # the first hop's DNS lookup
        return [v4("127.0.0.1", port)]

    fake_resolver(monkeypatch, slow_lookup)
    facts = (await run_check(first_url.replace("127.0.0.1", "shop.test"))).result.facts
    phases = http_phases(facts)
    assert facts["redirects"] == 1
    assert phases["resolve"] >= 0.3 and phases["connect"] >= 0  # the first hop's lookup, not lost or negative
    assert phases["processing"] < 0.3  # and not counted as the platform's processing time


async def test_an_https_check_reports_the_certificate_expiry_even_without_verification(run_check, tmp_path):
    import datetime
    import ssl

    import trustme
    from aiohttp.test_utils import TestServer
    from prometheus_client import CollectorRegistry

    from monitor.metrics import Metrics

    not_after = datetime.datetime(2031, 5, 1, 12, 0, tzinfo=datetime.UTC)
    cert = trustme.CA().issue_cert("127.0.0.1", not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    app = web.Application()
    app.router.add_get("/", text("ok"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    try:
        result = (await run_check(f"https://127.0.0.1:{server.port}/", verify_tls=False)).result
    finally:
        await server.close()
    assert result.ok and result.facts["cert_not_after"] == not_after.timestamp()
    metrics = Metrics(CollectorRegistry())
    metrics.observe_probe("shop", "home", "http", result, 0.1)
    assert metrics.value("probe_ssl_earliest_cert_expiry", {"channel": "shop", "check": "home", "kind": "http"}) == not_after.timestamp()
