"""The HTTP probe against real servers on 127.0.0.1: each way a target can fail gets its class.

Every check is built with parse_config (options validated as in production) and run through
monitor.runner.run_probe (the runner's deadline applies), with the production client session.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import tracemalloc

import pytest
from aiohttp import web

from monitor.config import parse_config
from probes.http import check_target
from tests.support.probes import check_yaml, closed_port, config_error

SHOP_PAGE = "<html><h1>Sklep</h1><button>Dodaj do koszyka</button></html>"
MAINTENANCE_PAGE = "<html><h1>PRZERWA TECHNICZNA</h1><p>Wracamy o 14:00.</p></html>"
# The runner must cut a hung probe off at its timeout; this is the slack allowed on top of it.
DEADLINE_SLACK = 0.3


async def serve(aiohttp_server, routes: dict[str, object], method: str = "*") -> str:
    """Start an aiohttp app with {path: handler}; return the URL of the first path."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route(method, path, handler)
    server = await aiohttp_server(app)
    return str(server.make_url(next(iter(routes))))


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Consume the request line and headers (closing with unread data would send a TCP reset)."""
    return await reader.readuntil(b"\r\n\r\n")


# --- success ---------------------------------------------------------------------------------


async def test_page_with_keyword_is_ok_and_reports_status_time_and_size(aiohttp_server, run_check):
    async def page(_request):
        return web.Response(text=SHOP_PAGE, content_type="text/html")

    url = await serve(aiohttp_server, {"/": page})
    outcome = await run_check(url, body_contains=["dodaj do KOSZYKA"])

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert r.facts["status"] == 200
    assert r.facts["body_bytes"] == len(SHOP_PAGE.encode())
    assert 0 < r.facts["first_byte_seconds"] <= r.facts["response_time_seconds"] < 2
    assert (outcome.channel, outcome.check, outcome.kind) == ("shop", "http", "http")


# --- status ----------------------------------------------------------------------------------


async def test_server_error_503_fails_with_http_status(aiohttp_server, run_check):
    async def down(_request):
        return web.Response(status=503, text="Service Unavailable")

    url = await serve(aiohttp_server, {"/": down})
    r = (await run_check(url)).result

    assert (r.ok, r.error_class, r.error) == (False, "http_status", "HTTP 503")
    assert r.facts["status"] == 503


@pytest.mark.parametrize(
    ("status", "expect_status", "ok"),
    [
        (404, [404], True),
        (200, [404], False),
        (204, ["2xx"], True),
        (304, ["2xx"], False),
        (418, [200, "4xx"], True),
        (200, [200, "4xx"], True),
        (500, [200, "4xx"], False),
        (304, None, True),
        (404, None, False),
    ],
    ids=[
        "404-accepted-when-listed",
        "200-rejected-when-only-404-listed",
        "2xx-class-accepts-204",
        "2xx-class-rejects-304",
        "4xx-class-in-mixed-list-accepts-418",
        "number-in-mixed-list-accepts-200",
        "mixed-list-rejects-500",
        "default-accepts-3xx",
        "default-rejects-4xx",
    ],
)
async def test_expect_status_accepts_listed_numbers_and_classes(aiohttp_server, run_check, status, expect_status, ok):
    async def answer(_request):
        return web.Response(status=status)

    url = await serve(aiohttp_server, {"/": answer})
    options = {} if expect_status is None else {"expect_status": expect_status}
    r = (await run_check(url, **options)).result

    assert r.ok is ok
    assert r.facts["status"] == status
    if not ok:
        assert (r.error_class, r.error) == ("http_status", f"HTTP {status}")


# --- content ---------------------------------------------------------------------------------


async def test_missing_keyword_is_content_mismatch_naming_it(aiohttp_server, run_check):
    async def page(_request):
        return web.Response(text=SHOP_PAGE, content_type="text/html")

    url = await serve(aiohttp_server, {"/": page})
    r = (await run_check(url, body_contains=["Dodaj do koszyka", "Zapłać teraz"])).result

    assert (r.ok, r.error_class, r.error) == (False, "content_mismatch", "body lacks 'Zapłać teraz'")
    assert r.facts["status"] == 200


async def test_maintenance_page_served_with_200_is_content_mismatch_case_insensitively(aiohttp_server, run_check):
    async def maintenance(_request):
        return web.Response(text=MAINTENANCE_PAGE, content_type="text/html")

    url = await serve(aiohttp_server, {"/": maintenance})
    r = (await run_check(url, body_not_contains=["Przerwa techniczna"])).result

    assert (r.ok, r.error_class, r.error) == (False, "content_mismatch", "body contains 'Przerwa techniczna'")
    assert r.facts["status"] == 200


async def test_forbidden_text_is_reported_before_a_missing_keyword(aiohttp_server, run_check):
    async def maintenance(_request):
        return web.Response(text=MAINTENANCE_PAGE, content_type="text/html")

    url = await serve(aiohttp_server, {"/": maintenance})
    r = (await run_check(url, body_contains=["Dodaj do koszyka"], body_not_contains=["przerwa techniczna"])).result

    assert (r.error_class, r.error) == ("content_mismatch", "body contains 'przerwa techniczna'")


@pytest.mark.parametrize("charset", ["iso-8859-2", "windows-1250", "utf-8"])
async def test_keywords_match_in_the_page_declared_charset(aiohttp_server, run_check, charset):
    page_text = "<h1>Przerwa techniczna</h1><p>Zapraszamy później</p>"

    async def page(_request):
        return web.Response(body=page_text.encode(charset), content_type="text/html", charset=charset)

    url = await serve(aiohttp_server, {"/": page})
    r = (await run_check(url, body_contains=["później"])).result
    assert (r.ok, r.error_class) == (True, None)


# --- time and size ---------------------------------------------------------------------------


async def test_slow_but_complete_answer_over_max_response_time_is_too_slow(aiohttp_server, run_check):
    async def slow(_request):
        await asyncio.sleep(0.3)
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/": slow})
    r = (await run_check(url, max_response_time="100ms", timeout="2s")).result

    assert (r.ok, r.error_class) == (False, "too_slow")
    assert re.fullmatch(r"response took 0\.\d{3}s, limit 0\.1s", r.error), r.error
    assert r.facts["response_time_seconds"] >= 0.3
    assert r.facts["status"] == 200


@pytest.mark.parametrize(
    ("size", "ok"),
    [(1000, True), (1001, False)],
    ids=["body-exactly-at-limit-is-ok", "one-byte-over-is-too-large"],
)
async def test_body_larger_than_max_body_bytes_is_body_too_large(aiohttp_server, run_check, size, ok):
    async def big(_request):
        return web.Response(body=b"a" * size)

    url = await serve(aiohttp_server, {"/": big})
    r = (await run_check(url, max_body_bytes=1000)).result

    assert r.ok is ok
    assert r.facts["body_bytes"] == 1000
    if not ok:
        assert (r.error_class, r.error) == ("body_too_large", "body larger than 1000 bytes")


async def test_gzip_bomb_is_body_too_large_by_decompressed_size_without_reading_it_all(aiohttp_server, run_check):
    inflated = 20_000_000
    bomb = gzip.compress(b"\0" * inflated, compresslevel=9)
    assert len(bomb) < 50_000  # on the wire it is far below the 1 MB limit; only inflated is it not

    async def gzipped(_request):
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    url = await serve(aiohttp_server, {"/": gzipped})
    tracemalloc.start()
    try:
        r = (await run_check(url, max_body_bytes=1_000_000)).result
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (r.ok, r.error_class, r.error) == (False, "body_too_large", "body larger than 1000000 bytes")
    assert r.facts["body_bytes"] == 1_000_000
    # Inflating it all would take 20 MB; streaming with a cut at the limit stays within a few MB.
    assert peak < 8_000_000, f"peak {peak} bytes while probing"


# --- connection failures ---------------------------------------------------------------------


async def test_closed_port_is_connect_refused(run_check):
    port = closed_port()

    outcome = await run_check(f"http://127.0.0.1:{port}/")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "connect_refused", f"connection refused by 127.0.0.1:{port}")
    assert outcome.duration_seconds < 1


async def test_server_that_never_answers_is_cut_off_at_the_check_timeout(raw_server, run_check):
    async def silent(reader, _writer):
        await read_request_head(reader)
        await asyncio.sleep(3600)

    url = await raw_server(silent)
    outcome = await run_check(url, timeout="500ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "timeout", "no complete answer within 0.5s (response phase)")
    assert 0.45 <= outcome.duration_seconds < 0.5 + DEADLINE_SLACK


async def test_slow_drip_body_is_cut_off_at_the_check_timeout(raw_server, run_check):
    sent = []

    async def drip(reader, writer):
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
        while True:
            writer.write(b"x")
            await writer.drain()
            sent.append(1)
            await asyncio.sleep(0.1)

    url = await raw_server(drip)
    outcome = await run_check(url, timeout="500ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "timeout", "no complete answer within 0.5s (body phase)")
    assert 0.45 <= outcome.duration_seconds < 0.5 + DEADLINE_SLACK
    assert len(sent) >= 3  # the body really was trickling in when the deadline hit


async def test_garbage_answer_is_http_protocol(raw_server, run_check):
    async def garbage(reader, writer):
        await read_request_head(reader)
        writer.write(b"hello garbage\r\n\r\n")
        await writer.drain()

    url = await raw_server(garbage)
    r = (await run_check(url)).result

    assert (r.ok, r.error_class) == (False, "http_protocol")
    assert r.error.startswith("invalid HTTP answer: "), r.error
    assert "hello garbage" in r.error
    assert "\n" not in r.error
    assert "400" not in r.error  # aiohttp's placeholder status for parse errors is not the server's


@pytest.mark.parametrize(
    "read_first",
    [False, True],
    ids=["close-with-request-unread-resets", "close-after-reading-request"],
)
async def test_server_closing_without_answering_is_http_protocol(raw_server, run_check, read_first):
    async def hang_up(reader, _writer):
        if read_first:
            await read_request_head(reader)
        # the wrapper closes the connection as soon as this returns

    url = await raw_server(hang_up)
    r = (await run_check(url)).result

    assert (r.ok, r.error_class) == (False, "http_protocol")
    assert r.error.startswith("the server closed the connection without a complete answer"), r.error


async def test_body_shorter_than_content_length_is_http_protocol(raw_server, run_check):
    async def truncated(reader, writer):
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    url = await raw_server(truncated)
    r = (await run_check(url)).result

    assert (r.ok, r.error_class) == (False, "http_protocol")
    assert r.error.startswith("invalid HTTP answer: "), r.error


async def test_unresolvable_name_is_a_dns_error_quickly(run_check):
    outcome = await run_check("http://does-not-exist.invalid/", timeout="2s")

    r = outcome.result
    assert r.ok is False
    assert r.error_class.startswith("dns_"), (r.error_class, r.error)
    assert outcome.duration_seconds < 2 + DEADLINE_SLACK


# --- redirects, method, headers --------------------------------------------------------------


async def test_redirect_is_followed_by_default_and_the_final_page_is_judged(aiohttp_server, run_check):
    async def old(_request):
        raise web.HTTPFound("/new")

    async def new(_request):
        return web.Response(text=SHOP_PAGE, content_type="text/html")

    url = await serve(aiohttp_server, {"/old": old, "/new": new})
    r = (await run_check(url, body_contains=["Dodaj do koszyka"])).result

    assert r.ok is True, r
    assert r.facts["status"] == 200


@pytest.mark.parametrize(
    ("expect_status", "ok"),
    [(None, True), ([200], False)],
    ids=["302-ok-by-default-3xx", "302-fails-when-only-200-expected"],
)
async def test_redirect_not_followed_when_follow_redirects_false(aiohttp_server, run_check, expect_status, ok):
    hits = []

    async def old(_request):
        raise web.HTTPFound("/new")

    async def new(_request):
        hits.append("new")
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/old": old, "/new": new})
    options = {} if expect_status is None else {"expect_status": expect_status}
    r = (await run_check(url, follow_redirects=False, **options)).result

    assert r.ok is ok
    assert r.facts["status"] == 302
    assert hits == []
    if not ok:
        assert (r.error_class, r.error) == ("http_status", "HTTP 302")


async def test_redirect_loop_is_http_status_too_many_redirects(aiohttp_server, run_check):
    async def loop(_request):
        raise web.HTTPFound("/loop")

    url = await serve(aiohttp_server, {"/loop": loop})
    r = (await run_check(url)).result

    assert (r.ok, r.error_class, r.error) == (False, "http_status", "too many redirects (more than 10)")


async def test_redirect_to_a_non_http_url_is_http_status(aiohttp_server, run_check):
    async def away(_request):
        raise web.HTTPFound("ftp://files.example.com/sklep/")

    url = await serve(aiohttp_server, {"/": away})
    r = (await run_check(url)).result

    assert (r.ok, r.error_class, r.error) == (
        False,
        "http_status",
        "redirect to an invalid or non-http(s) URL: ftp://files.example.com/sklep/",
    )


async def test_head_method_is_sent_and_an_empty_body_is_ok(aiohttp_server, run_check):
    methods = []

    async def page(request):
        methods.append(request.method)
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/": page})
    r = (await run_check(url, method="HEAD")).result

    assert r.ok is True, r
    assert methods == ["HEAD"]
    assert (r.facts["status"], r.facts["body_bytes"]) == (200, 0)


async def test_configured_headers_are_sent_along_with_the_user_agent(aiohttp_server, run_check):
    seen = []

    async def guarded(request):
        seen.append((request.headers.get("X-Monitor-Token"), request.headers.get("User-Agent")))
        if request.headers.get("X-Monitor-Token") != "s3cret":
            return web.Response(status=403)
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/": guarded})
    r = (await run_check(url, headers={"X-Monitor-Token": "s3cret"})).result

    assert r.ok is True, r
    assert seen == [("s3cret", "test")]


# --- targets and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["ftp://shop.example.com/", "shop.example.com", "http://", "file:///etc/passwd"],
    ids=["ftp-scheme", "no-scheme", "no-host", "file-url"],
)
def test_check_target_rejects_non_http_urls_with_the_fix(target):
    with pytest.raises(ValueError) as info:
        check_target(target)
    assert str(info.value) == f"{target!r} is not an http(s) URL; write e.g. https://shop.example.com/"


@pytest.mark.parametrize("target", ["http://shop.example.com/", "https://127.0.0.1:8443/koszyk?x=1"], ids=["http", "https"])
def test_check_target_returns_http_urls_unchanged(target):
    assert check_target(target) == target


def config_problem(target: str = "https://shop.example.com/", key: str = "method", value: str = "GET") -> str:
    return config_error(check_yaml("http", target, **{key: value}))


def test_config_rejects_non_http_target_with_its_line():
    assert config_problem(target="ftp://shop.example.com/") == (
        "<config>:6: channels[0].checks[0].target: 'ftp://shop.example.com/' is not an http(s) URL; write e.g. https://shop.example.com/"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [("[200, 999]", "999"), ('["2xx", "6xx"]', "'6xx'"), ('["2XX"]', "'2XX'"), ('["200"]', "'200'")],
    ids=["number-out-of-range", "class-6xx", "upper-case-class", "number-as-string"],
)
def test_config_rejects_bad_expect_status_with_the_exact_message(value, shown):
    assert config_problem(key="expect_status", value=value) == (
        f"<config>:7: channels[0].checks[0].expect_status: {shown} is not an HTTP status; "
        "use a number from 100 to 599 or a class like '2xx'"
    )


def test_config_accepts_numbers_and_classes_in_expect_status():
    config = parse_config(check_yaml("http", "https://shop.example.com/", expect_status='[200, 301, "4xx"]'))
    assert config.channels[0].checks[0].options.expect_status == [200, 301, "4xx"]


def test_config_rejects_empty_expect_status_that_would_fail_every_answer():
    assert config_problem(key="expect_status", value="[]") == (
        "<config>:7: channels[0].checks[0].expect_status: an empty list accepts no status at all; list at least one, e.g. [200] or ['2xx']"
    )


@pytest.mark.parametrize("key", ["body_contains", "body_not_contains"])
def test_config_rejects_body_keywords_on_head_requests(key):
    assert config_error(check_yaml("http", "https://shop.example.com/", method="HEAD", **{key: "[Koszyk]"})) == (
        "<config>:5: channels[0].checks[0]: a HEAD request gets no body to search; use method: GET with body_contains/body_not_contains"
    )


# --- the wire: what is sent, and what comes back on a fresh connection -----------------------


async def test_the_request_is_one_plain_http11_request_with_the_path_quoted(raw_server, run_check):
    heads = []

    async def record(reader, writer):
        heads.append(await read_request_head(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nKoszyk \r\n2\r\nok\r\n0\r\n\r\n")
        await writer.drain()

    url = await raw_server(record)
    r = (await run_check(url + "sklep/żółw?q=buty+damskie&kolor=%C5%BC", body_contains=["Koszyk ok"])).result

    assert r.ok is True, r
    lines = heads[0].decode("latin-1").split("\r\n")
    assert lines[0] == "GET /sklep/%C5%BC%C3%B3%C5%82w?q=buty+damskie&kolor=%C5%BC HTTP/1.1"
    port = url.rsplit(":", 1)[1].strip("/")
    assert f"Host: 127.0.0.1:{port}" in lines and "Connection: close" in lines and "User-Agent: test" in lines
    assert "Accept-Encoding: gzip, deflate" in lines


async def test_phases_are_timed_dns_only_when_a_name_is_looked_up(aiohttp_server, run_check):
    async def page(_request):
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/": page})

    by_address = (await run_check(url)).result
    by_name = (await run_check(url.replace("127.0.0.1", "localhost"))).result

    assert by_address.ok and by_name.ok, (by_address, by_name)
    assert "dns_seconds" not in by_address.facts and by_address.facts["connect_seconds"] > 0
    assert by_name.facts["dns_seconds"] > 0 and by_name.facts["connect_seconds"] > 0
    assert by_name.facts["first_byte_seconds"] <= by_name.facts["response_time_seconds"]


async def test_a_redirect_location_in_raw_utf8_is_followed_to_that_path(raw_server, run_check):
    # Shops send Location: /koszyk/żółw unescaped, in UTF-8 (as aiohttp read it, and browsers do).
    paths = []

    async def shop(reader, writer):
        paths.append((await read_request_head(reader)).split(b" ")[1])
        if len(paths) == 1:
            writer.write("HTTP/1.1 302 Found\r\nLocation: /koszyk/żółw?q=ł\r\nContent-Length: 0\r\n\r\n".encode())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    url = await raw_server(shop)
    r = (await run_check(url)).result

    assert r.ok is True and r.facts["redirects"] == 1, r
    assert paths == [b"/", b"/koszyk/%C5%BC%C3%B3%C5%82w?q=%C5%82"]


async def test_a_redirect_to_another_host_does_not_carry_credentials(aiohttp_server, run_check):
    seen = []

    async def old(request):
        seen.append(("old", request.headers.get("Authorization"), request.headers.get("X-Shop")))
        raise web.HTTPSeeOther(str(request.url.with_host("localhost").with_path("/new")))

    async def new(request):
        seen.append(("new", request.headers.get("Authorization"), request.headers.get("X-Shop")))
        return web.Response(text=SHOP_PAGE)

    url = await serve(aiohttp_server, {"/old": old, "/new": new})
    r = (await run_check(url, headers={"Authorization": "Bearer s3cret", "X-Shop": "pl"})).result

    assert r.ok is True and r.facts["redirects"] == 1, r
    assert seen == [("old", "Bearer s3cret", "pl"), ("new", None, "pl")]


async def test_an_untrusted_certificate_is_tls_invalid_and_says_why(run_check):
    import ssl

    import trustme
    from aiohttp.test_utils import TestServer

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    app = web.Application()

    async def page(_request):
        return web.Response(text=SHOP_PAGE)

    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=context)
    try:
        r = (await run_check(f"https://127.0.0.1:{server.port}/")).result
    finally:
        await server.close()

    assert (r.ok, r.error_class) == (False, "tls_invalid")
    assert r.error == "TLS certificate: unable to get local issuer certificate", r.error
