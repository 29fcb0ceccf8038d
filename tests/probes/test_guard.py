"""The SSRF guard: which addresses probes may reach, checked on the real connection path."""
from __future__ import annotations

import time

import pytest
from aiohttp import web

from monitor.runner import run_probe
from probes import PROBES
from probes.guard import NetworkGuard
from probes.session import create_http_session
from tests.probes.conftest import build_check


@pytest.mark.parametrize("address,blocked", [
    ("93.184.216.34", False), ("2606:4700::1111", False),
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("172.16.5.4", True), ("169.254.1.1", True),
    ("100.64.0.1", True), ("0.0.0.0", True), ("::1", True), ("fe80::1", True), ("fd00::1", True),
    ("::ffff:127.0.0.1", True), ("::ffff:93.184.216.34", False), ("169.254.169.254", True), ("fd00:ec2::254", True),
], ids=lambda v: str(v))
def test_default_guard_blocks_non_public_addresses(address, blocked):
    assert (NetworkGuard().reason(address) is not None) is blocked


def test_allowed_networks_open_private_ranges_but_never_metadata():
    guard = NetworkGuard(["169.254.0.0/16", "10.0.0.0/8"])
    assert guard.reason("10.9.9.9") is None and guard.reason("169.254.1.1") is None
    assert guard.reason("169.254.169.254") == "a cloud metadata address (always blocked)"


async def serve(aiohttp_server):
    hits = []

    async def page(request):
        hits.append(request.path)
        return web.Response(text="ok")

    async def bounce(request):
        hits.append(request.path)
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/bounce", bounce)
    server = await aiohttp_server(app)
    return server.port, hits


@pytest.mark.parametrize("host,error_class", [
    ("127.0.0.1", "blocked_destination"), ("0x7f000001", "blocked_destination"),
    ("[::ffff:127.0.0.1]", "blocked_destination"), ("localhost", "blocked_destination"),
    ("2130706433", "connect_error"),  # yarl refuses the decimal form as a URL before any lookup
], ids=["dotted", "hex", "ipv4-mapped-v6", "name", "decimal"])
async def test_loopback_in_any_spelling_gets_no_connection(aiohttp_server, host, error_class):
    port, hits = await serve(aiohttp_server)
    channel, check = build_check(f"http://{host}:{port}/")
    async with create_http_session("test") as strict:  # no networks allowed
        outcome = await run_probe(PROBES["http"], channel, check, strict, time.time)
    assert outcome.result.error_class == error_class, outcome.result
    if error_class == "blocked_destination":
        assert "private, loopback, link-local or reserved address" in outcome.result.error
    assert hits == []


async def test_redirect_to_a_blocked_address_is_stopped(aiohttp_server, run_check):
    port, hits = await serve(aiohttp_server)
    # Loopback is allowed in these tests, so the page answers; the redirect to metadata must not.
    outcome = await run_check(f"http://127.0.0.1:{port}/bounce?to=http://169.254.169.254/latest/meta-data/")
    assert outcome.result.error_class == "blocked_destination"
    assert "cloud metadata address" in outcome.result.error
    assert hits == ["/bounce"]
