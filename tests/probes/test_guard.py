"""The SSRF guard: which addresses probes may reach, checked on the real connection path."""

from __future__ import annotations

import dataclasses
import time

import pytest
from aiohttp import web

from monitor.runner import run_probe
from probes import PROBES
from probes.guard import NetworkGuard
from probes.session import create_http_session
from tests.support.probes import build_check


@pytest.mark.parametrize(
    "address,blocked",
    [
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("172.16.5.4", True),
        ("169.254.1.1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:93.184.216.34", False),
        ("169.254.169.254", True),
        ("fd00:ec2::254", True),
    ],
    ids=lambda v: str(v),
)
def test_default_guard_blocks_non_public_addresses(address, blocked):
    assert (NetworkGuard().reason(address) is not None) is blocked


def test_allowed_networks_open_private_ranges_but_never_metadata_or_link_local():
    guard = NetworkGuard(["169.254.0.0/16", "fe80::/10", "10.0.0.0/8"])
    assert guard.reason("10.9.9.9") is None
    assert guard.reason("169.254.169.254") == "a cloud metadata address (always blocked)"
    link_local = "a link-local address (always blocked: cloud metadata services live there)"
    assert guard.reason("169.254.1.1") == guard.reason("fe80::1") == guard.reason("::ffff:169.254.7.7") == link_local


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


@pytest.mark.parametrize(
    "host,error_class",
    [
        ("127.0.0.1", "blocked_destination"),
        ("0x7f000001", "blocked_destination"),
        ("[::ffff:127.0.0.1]", "blocked_destination"),
        ("localhost", "blocked_destination"),
        ("2130706433", "blocked_destination"),  # refused as an ambiguous spelling before any lookup
    ],
    ids=["dotted", "hex", "ipv4-mapped-v6", "name", "decimal"],
)
async def test_loopback_in_any_spelling_gets_no_connection(aiohttp_server, host, error_class):
    port, hits = await serve(aiohttp_server)
    channel, check = build_check("http://shop.example/")  # the config refuses odd spellings: test the run time
    check = dataclasses.replace(check, target=f"http://{host}:{port}/")
    async with create_http_session("test") as strict:  # no networks allowed
        outcome = await run_probe(PROBES["http"], channel, check, strict, time.time)
    assert outcome.result.error_class == error_class, outcome.result
    assert (
        "private, loopback or reserved address (allow it with allow_networks)" in outcome.result.error
        or "an ambiguous spelling of an IPv4 address (127.0.0.1)" in outcome.result.error
    )
    assert hits == []


async def test_redirect_to_a_blocked_address_is_stopped(aiohttp_server, run_check):
    port, hits = await serve(aiohttp_server)
    # Loopback is allowed in these tests, so the page answers; the redirect to metadata must not.
    outcome = await run_check(f"http://127.0.0.1:{port}/bounce?to=http://169.254.169.254/latest/meta-data/")
    assert outcome.result.error_class == "blocked_destination"
    assert "cloud metadata address" in outcome.result.error
    assert hits == ["/bounce"]


@pytest.mark.parametrize("target", ["http://127.1:8080/", "http://2130706433/", "https://0177.0.0.1/x", "http://0x7f.1/"])
def test_an_odd_spelling_of_an_address_is_a_config_error_with_the_fix(target):
    from monitor.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        build_check(target)
    assert "is an ambiguous spelling of an IPv4 address (127.0.0.1); write the address in dotted form" in str(caught.value)


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address (always blocked)"),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", "a cloud metadata address (always blocked)"),  # 6to4 of it
        ("::7f00:1", "a private, loopback or reserved address (allow it with allow_networks)"),  # IPv4-compatible 127.0.0.1
        ("168.63.129.16", "a cloud metadata address (always blocked)"),  # Azure's WireServer, a public address
        ("64:ff9b::808:808", None),  # NAT64 of a public address: allowed
    ],
    ids=["nat64-metadata", "6to4-metadata", "ipv4-compatible-loopback", "azure-wireserver", "nat64-public"],
)
def test_an_ipv4_address_carried_in_ipv6_is_judged_as_itself(address, blocked):
    assert NetworkGuard().reason(address) == blocked
