"""The DNS probe against fake DNS servers on loopback: each way resolution can fail gets its class.

Checks are built with parse_config (options validated as in production) and run through
monitor.runner.run_probe, so the runner's deadline applies.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from monitor.dnsserver import FakeDNSServer
from monitor.runner import CheckResult
from probes import dns as dns_probe
from probes.dns import check_target, parse_resolver, system_resolvers
from probes.guard import ALLOW_NOTHING
from tests.support.probes import build_check, check_yaml, config_error

DEADLINE_SLACK = 0.3  # allowed on top of the check timeout
NAME = "facebook.com"


@pytest.fixture
async def start_dns() -> AsyncIterator[Callable[..., Awaitable[FakeDNSServer]]]:
    """start_dns(**kwargs) -> a running FakeDNSServer, closed at teardown."""
    servers: list[FakeDNSServer] = []

    async def start(**kwargs: Any) -> FakeDNSServer:
        server = await FakeDNSServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def dns_server(start_dns) -> FakeDNSServer:
    return await start_dns()


@pytest.fixture
def run_dns(probe_runner) -> Callable[..., Awaitable[CheckResult]]:
    """run_dns(target, resolvers=[...], timeout=..., **dns_options) -> CheckResult via the runner.

    The guard allows nothing: resolvers are the operator's own, so it must not stop the loopback fakes.
    """
    return functools.partial(probe_runner, "dns", guard=ALLOW_NOTHING)


# --- answers ---------------------------------------------------------------------------------


async def test_a_records_resolve_ok_with_sorted_answers_and_facts(dns_server, run_dns):
    dns_server.answer(NAME, a=["192.0.2.20", "192.0.2.3"])

    outcome = await run_dns(NAME, resolvers=[dns_server.address])

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert dict(r.facts) == {"rcode": "NOERROR", "answers": "192.0.2.20,192.0.2.3", "resolvers_ok": 1, "resolvers_failed": 0}
    assert (outcome.channel, outcome.check, outcome.kind) == ("shop", "dns", "dns")
    assert dns_server.queries == [("udp", NAME, "A")]


async def test_aaaa_records_resolve_ok(dns_server, run_dns):
    dns_server.answer(NAME, a=["192.0.2.1"], aaaa=["2001:db8::2", "2001:db8::1"])

    r = (await run_dns(NAME, resolvers=[dns_server.address], record_types=["AAAA"])).result

    assert (r.ok, r.facts["answers"]) == (True, "2001:db8::1,2001:db8::2")
    assert dns_server.queries == [("udp", NAME, "AAAA")]


async def test_a_and_aaaa_together_report_both_and_need_both(dns_server, run_dns):
    dns_server.answer(NAME, a=["192.0.2.1"], aaaa=["2001:db8::1"])
    dns_server.answer("v4only.example.com", a=["192.0.2.9"])

    both = (await run_dns(NAME, resolvers=[dns_server.address], record_types=["A", "AAAA"])).result
    v4only = (await run_dns("v4only.example.com", resolvers=[dns_server.address], record_types=["A", "AAAA"])).result

    assert (both.ok, both.facts["answers"]) == (True, "192.0.2.1,2001:db8::1")
    assert (v4only.ok, v4only.error_class, v4only.error) == (
        False,
        "dns_no_answer",
        f"no AAAA record for v4only.example.com ({dns_server.address})",
    )
    assert v4only.facts["rcode"] == "NOERROR"


async def test_ns_records_resolve_to_host_names(dns_server, run_dns):
    dns_server.answer(NAME, ns=["b.ns.facebook.com", "a.ns.facebook.com."])

    r = (await run_dns(NAME, resolvers=[dns_server.address], record_types=["NS"])).result

    assert (r.ok, r.facts["answers"]) == (True, "a.ns.facebook.com,b.ns.facebook.com")


async def test_cname_chain_is_followed_to_the_addresses(dns_server, run_dns):
    dns_server.answer("www.facebook.com", cname="star-mini.c10r.facebook.com")
    dns_server.answer("star-mini.c10r.facebook.com", a=["157.240.0.35"])

    r = (await run_dns("www.facebook.com", resolvers=[dns_server.address])).result

    assert (r.ok, r.facts["answers"]) == (True, "157.240.0.35")


async def test_idn_name_is_asked_in_its_ascii_form(dns_server, run_dns):
    dns_server.answer("żabka.pl", a=["192.0.2.7"])

    r = (await run_dns("Żabka.pl", resolvers=[dns_server.address])).result

    assert (r.ok, r.facts["answers"]) == (True, "192.0.2.7")
    assert dns_server.queries == [("udp", "xn--abka-99a.pl", "A")]


async def test_truncated_udp_answer_is_asked_again_over_tcp(dns_server, run_dns):
    dns_server.answer(NAME, a=[f"192.0.2.{i}" for i in range(1, 4)], truncate_udp=True)

    r = (await run_dns(NAME, resolvers=[dns_server.address])).result

    assert (r.ok, r.facts["answers"]) == (True, "192.0.2.1,192.0.2.2,192.0.2.3")
    assert dns_server.queries == [("udp", NAME, "A"), ("tcp", NAME, "A")]


async def test_behaviour_changed_at_runtime_is_seen_by_the_next_probe(dns_server, run_dns):
    dns_server.answer(NAME, a=["192.0.2.1"])
    first = (await run_dns(NAME, resolvers=[dns_server.address])).result
    dns_server.fail(NAME, "SERVFAIL")
    second = (await run_dns(NAME, resolvers=[dns_server.address])).result

    assert (first.ok, second.ok, second.error_class) == (True, False, "dns_servfail")


async def test_ipv6_resolver_address_is_used(start_dns, run_dns):
    server = await start_dns(host="::1")  # Debian's loopback has ::1; CI must too
    server.answer(NAME, a=["192.0.2.1"])

    r = (await run_dns(NAME, resolvers=[server.address])).result

    assert (r.ok, r.facts["answers"]) == (True, "192.0.2.1")


# --- each failure class ----------------------------------------------------------------------


async def test_nxdomain_says_the_name_does_not_exist(dns_server, run_dns):
    r = (await run_dns(NAME, resolvers=[dns_server.address])).result  # unknown names are NXDOMAIN

    assert (r.ok, r.error_class, r.error) == (False, "dns_nxdomain", f"NXDOMAIN: {NAME} does not exist ({dns_server.address})")
    assert dict(r.facts) == {"rcode": "NXDOMAIN", "answers": "", "resolvers_ok": 0, "resolvers_failed": 1}


async def test_servfail_from_two_resolvers_counts_them(start_dns, run_dns):
    a, b = await start_dns(), await start_dns()
    for server in (a, b):
        server.fail(NAME, "SERVFAIL")

    r = (await run_dns(NAME, resolvers=[a.address, b.address])).result

    assert (r.ok, r.error_class, r.error) == (False, "dns_servfail", f"SERVFAIL from 2 resolvers for {NAME}")
    assert dict(r.facts) == {"rcode": "SERVFAIL", "answers": "", "resolvers_ok": 0, "resolvers_failed": 2}


async def test_refused(dns_server, run_dns):
    dns_server.fail(NAME, "REFUSED")

    r = (await run_dns(NAME, resolvers=[dns_server.address])).result

    assert (r.ok, r.error_class, r.error) == (False, "dns_refused", f"REFUSED by {dns_server.address} for {NAME}")
    assert r.facts["rcode"] == "REFUSED"


async def test_noerror_without_records_is_no_answer(dns_server, run_dns):
    dns_server.no_answer(NAME)

    r = (await run_dns(NAME, resolvers=[dns_server.address])).result

    assert (r.ok, r.error_class, r.error) == (False, "dns_no_answer", f"no A record for {NAME} ({dns_server.address})")
    assert r.facts["rcode"] == "NOERROR"


async def test_other_rcode_is_dns_error_naming_it(dns_server, run_dns):
    dns_server.fail(NAME, "NOTIMP")

    r = (await run_dns(NAME, resolvers=[dns_server.address])).result

    assert (r.ok, r.error_class, r.error) == (False, "dns_error", f"DNS lookup of {NAME} failed at {dns_server.address}: NOTIMP")
    assert r.facts["rcode"] == "NOTIMP"


async def test_silent_resolver_is_dns_timeout_within_the_check_timeout(dns_server, run_dns):
    dns_server.silence(NAME)

    outcome = await run_dns(NAME, resolvers=[dns_server.address], timeout="500ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "dns_timeout", f"{dns_server.address} did not answer for {NAME} within 0.4s")
    assert dict(r.facts) == {"rcode": "", "answers": "", "resolvers_ok": 0, "resolvers_failed": 1}
    assert 0.35 <= outcome.duration_seconds < 0.5 + DEADLINE_SLACK


# --- several resolvers -----------------------------------------------------------------------


@pytest.mark.parametrize(("require", "ok"), [("any", True), ("all", False)])
async def test_require_any_passes_with_one_good_resolver_and_all_does_not(start_dns, run_dns, require, ok):
    broken, good = await start_dns(), await start_dns()
    broken.fail(NAME, "SERVFAIL")
    good.answer(NAME, a=["192.0.2.1"])

    r = (await run_dns(NAME, resolvers=[broken.address, good.address], require=require)).result

    assert r.ok is ok
    assert (r.facts["resolvers_ok"], r.facts["resolvers_failed"], r.facts["answers"]) == (1, 1, "192.0.2.1")
    if ok:
        assert (r.error_class, r.facts["rcode"]) == (None, "NOERROR")
    else:
        assert (r.error_class, r.error, r.facts["rcode"]) == (
            "dns_servfail",
            f"SERVFAIL from {broken.address} for {NAME}; other resolvers: 1 answered",
            "SERVFAIL",
        )


async def test_majority_failure_decides_the_class_and_the_split_is_mentioned(start_dns, run_dns):
    servers = [await start_dns() for _ in range(3)]
    servers[0].fail(NAME, "SERVFAIL")
    servers[1].silence(NAME)
    servers[2].fail(NAME, "SERVFAIL")

    outcome = await run_dns(NAME, resolvers=[s.address for s in servers], timeout="500ms", interval="1s")

    r = outcome.result
    assert (r.error_class, r.error) == ("dns_servfail", f"SERVFAIL from 2 of 3 resolvers for {NAME}; other resolvers: 1 timed out")
    assert (r.facts["rcode"], r.facts["resolvers_ok"], r.facts["resolvers_failed"]) == ("SERVFAIL", 0, 3)
    assert outcome.duration_seconds < 0.5 + DEADLINE_SLACK  # resolvers are asked at once, not in turn


async def test_a_tie_between_failures_reports_nxdomain_first(start_dns, run_dns):
    servfail, nxdomain = await start_dns(), await start_dns()
    servfail.fail(NAME, "SERVFAIL")

    r = (await run_dns(NAME, resolvers=[servfail.address, nxdomain.address])).result

    assert (r.error_class, r.error) == (
        "dns_nxdomain",
        f"NXDOMAIN: {NAME} does not exist ({nxdomain.address}); other resolvers: 1 SERVFAIL",
    )


# --- system resolvers ------------------------------------------------------------------------


def test_system_resolvers_are_read_from_resolv_conf_each_time(tmp_path, monkeypatch):
    conf = tmp_path / "resolv.conf"
    monkeypatch.setattr(dns_probe, "RESOLV_CONF", str(conf))
    conf.write_text("nameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    first = system_resolvers()
    conf.write_text("search example.com\nnameserver 198.51.100.53\n")

    assert (first, system_resolvers()) == (["192.0.2.53", "2001:db8::53"], ["198.51.100.53"])


async def test_no_resolvers_anywhere_is_dns_error_with_the_fix(tmp_path, monkeypatch, run_dns):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# nothing here\n")
    monkeypatch.setattr(dns_probe, "RESOLV_CONF", str(conf))

    r = (await run_dns(NAME)).result

    assert (r.error_class, r.error) == ("dns_error", f"no resolvers to ask: {conf} lists none; set resolvers, e.g. [1.1.1.1]")


# --- targets and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://facebook.com",
        "facebook.com/login",
        "facebook.com:443",
        "",
        "face book.com",
        "-shop.pl",
        "shop..pl",
        "192.0.2.1",
        "a" * 64 + ".com",
    ],
    ids=["url", "path", "port", "empty", "space", "leading-hyphen", "empty-label", "ip", "label-too-long"],
)
def test_check_target_rejects_what_is_not_a_host_name(target):
    with pytest.raises(ValueError) as info:
        check_target(target)
    assert str(info.value) == f"{target!r} is not a host name; write e.g. facebook.com"


@pytest.mark.parametrize(
    ("target", "normalised"),
    [("Facebook.COM.", "facebook.com"), ("localhost", "localhost"), ("_dmarc.shop.pl", "_dmarc.shop.pl"), ("Żabka.pl", "żabka.pl")],
    ids=["case-and-dot", "single-label", "underscore", "idn"],
)
def test_check_target_returns_the_normalised_name(target, normalised):
    assert check_target(target) == normalised


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.1.1.1", ("1.1.1.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("2606:4700::1111", ("2606:4700::1111", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
    ],
)
def test_resolver_addresses_accepted(text, parsed):
    assert parse_resolver(text) == parsed


def config_problem(target: str = NAME, key: str = "require", value: str = "any") -> str:
    return config_error(check_yaml("dns", target, **{key: value}))


def test_config_rejects_a_url_target_with_its_line():
    assert config_problem(target="https://facebook.com") == (
        "<config>:6: channels[0].checks[0].target: 'https://facebook.com' is not a host name; write e.g. facebook.com"
    )


def test_config_rejects_an_unsupported_record_type():
    assert config_problem(key="record_types", value="[A, MX]") == (
        "<config>:7: channels[0].checks[0].record_types[1]: 'MX' is not allowed; use one of: 'A', 'AAAA' or 'NS'"
    )


@pytest.mark.parametrize("value", ["dns.google", "1.1.1.1:99999", "[1.1.1.1]:53", "300.1.1.1", "::1:53x"])
def test_config_rejects_a_bad_resolver_address(value):
    assert config_problem(key="resolvers", value=f'["{value}"]') == (
        f"<config>:7: channels[0].checks[0].resolvers: {value!r} is not a resolver address; "
        "write an IP address, IP:port or [IPv6]:port, e.g. 1.1.1.1 or 127.0.0.1:5353"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("resolvers", "an empty list asks no resolver; list at least one, e.g. ['1.1.1.1'], or leave resolvers out to use the system's"),
        ("record_types", "an empty list checks nothing; list at least one of A, AAAA, NS"),
    ],
)
def test_config_rejects_empty_lists(key, message):
    assert config_problem(key=key, value="[]") == f"<config>:7: channels[0].checks[0].{key}: {message}"


def test_config_rejects_a_bad_require():
    assert config_problem(key="require", value="most") == (
        "<config>:7: channels[0].checks[0].require: 'most' is not allowed; use one of: 'any' or 'all'"
    )


def test_config_normalises_and_deduplicates_options():
    _, check = build_check(NAME, kind="dns", resolvers=["127.0.0.1:53", "127.0.0.1", "[::1]:5353"], record_types=["A", "A", "NS"])

    assert check.options.resolvers == ["127.0.0.1", "[::1]:5353"]
    assert check.options.record_types == ["A", "NS"]
    options = build_check(NAME, kind="dns")[1].options
    assert (options.resolvers, options.require) == (None, "any")


def test_conditions_can_read_the_dns_facts():
    _, check = build_check(NAME, kind="dns", conditions=["[DNS_RCODE] == NOERROR", "[RESOLVERS_OK] >= 2"])
    assert len(check.conditions) == 2


def test_fake_server_shares_its_port_between_udp_and_tcp(dns_server):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        sock.connect(("127.0.0.1", dns_server.port))  # refused if TCP were not listening
