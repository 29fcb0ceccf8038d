"""The TCP probe against real sockets on loopback: open, closed, blocked, unresolvable, hung.

Checks are built with parse_config (options validated as in production) and run through
monitor.runner.run_probe, so the runner's deadline and its phase mapping are exercised too.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable

import pytest

from monitor.runner import CheckResult
from probes import tcp
from probes.guard import ALLOW_NOTHING, NetworkGuard
from tests.support.probes import BLOCKED_LOOPBACK, check_yaml, closed_port, config_error, fake_resolver, v4

DEADLINE_SLACK = 0.3


@pytest.fixture
def run_tcp(probe_runner) -> Callable[..., Awaitable[CheckResult]]:
    """run_tcp(target, guard=LOOPBACK, **tcp_options) -> CheckResult, through the real runner."""
    return functools.partial(probe_runner, "tcp")


@pytest.fixture
def tcp_server(start_server):
    """tcp_server() -> (port, events): a server that records each connection and when it is closed."""

    async def start(host: str = "127.0.0.1") -> tuple[int, list[str]]:
        events: list[str] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            events.append("connected")
            try:
                await reader.read()  # b"" once the probe closes its socket
                events.append("closed")
            except ConnectionError:
                events.append("reset")
            finally:
                writer.close()

        return await start_server(handle, host), events

    return start


async def until(predicate, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


# --- success ---------------------------------------------------------------------------------


async def test_open_port_is_ok_with_facts_and_the_socket_is_closed_after(tcp_server, run_tcp):
    port, events = await tcp_server()
    outcome = await run_tcp(f"127.0.0.1:{port}")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert r.facts["connected"] is True
    assert r.facts["address"] == "127.0.0.1"
    assert 0 <= r.facts["connect_seconds"] < 1
    assert (outcome.check, outcome.kind) == ("tcp", "tcp")
    await until(lambda: len(events) == 2)
    assert events == ["connected", "closed"]  # a clean FIN, not a reset or a leaked socket


async def test_host_name_target_is_resolved(tcp_server, run_tcp):
    port, _ = await tcp_server()
    r = (await run_tcp(f"localhost:{port}")).result

    assert (r.ok, r.facts["address"]) == (True, "127.0.0.1")


async def test_ipv6_target_in_brackets(tcp_server, run_tcp):
    port, _ = await tcp_server("::1")  # Debian's loopback has ::1; CI must too
    r = (await run_tcp(f"[::1]:{port}")).result

    assert (r.ok, r.facts["address"]) == (True, "::1")


# --- connection failures ---------------------------------------------------------------------


async def test_closed_port_is_connect_refused(run_tcp):
    port = closed_port()
    r = (await run_tcp(f"127.0.0.1:{port}")).result

    assert (r.ok, r.error_class, r.error) == (False, "connect_refused", f"connection refused by 127.0.0.1:{port}")
    assert (r.facts["connected"], r.facts["address"]) == (False, "127.0.0.1")


async def test_a_refused_address_falls_through_to_the_next(monkeypatch, tcp_server, run_tcp):
    port, _ = await tcp_server()
    dead = closed_port()
    fake_resolver(monkeypatch, lambda host, _port: [v4("127.0.0.2", dead), v4("127.0.0.1", port)])

    r = (await run_tcp(f"shop.example:{port}")).result
    assert (r.ok, r.facts["address"]) == (True, "127.0.0.1")


async def test_when_every_address_fails_the_last_failure_is_reported(monkeypatch, run_tcp):
    dead = closed_port()
    fake_resolver(monkeypatch, lambda host, _port: [v4("127.0.0.2", dead), v4("127.0.0.1", dead)])

    r = (await run_tcp(f"shop.example:{dead}")).result
    assert (r.error_class, r.error) == ("connect_refused", f"connection refused by shop.example:{dead} (127.0.0.1); all 2 addresses failed")


@pytest.mark.parametrize(
    ("code", "error_class", "wording"),
    [
        (errno.ETIMEDOUT, "connect_timeout", "cannot reach"),
        (errno.EHOSTUNREACH, "connect_timeout", "cannot reach"),
        (errno.ENETUNREACH, "connect_timeout", "cannot reach"),
        (errno.EACCES, "connect_error", "cannot connect to"),
    ],
    ids=["etimedout", "ehostunreach", "enetunreach", "other-errno"],
)
async def test_connect_errors_map_to_their_class(monkeypatch, run_tcp, code, error_class, wording):
    async def fail(sock, _address):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(asyncio.get_running_loop(), "sock_connect", fail)
    r = (await run_tcp("127.0.0.1:9")).result

    assert (r.ok, r.error_class) == (False, error_class)
    assert r.error == f"{wording} 127.0.0.1:9: {os.strerror(code)}"
    assert r.facts["connected"] is False


async def test_connect_that_never_completes_is_connect_timeout_at_the_deadline(monkeypatch, run_tcp):
    sockets: list[socket.socket] = []

    async def hang(sock, _address):
        sockets.append(sock)
        await asyncio.sleep(3600)

    monkeypatch.setattr(asyncio.get_running_loop(), "sock_connect", hang)
    outcome = await run_tcp("127.0.0.1:9", timeout="300ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "connect_timeout", "no complete answer within 0.3s (connect phase)")
    assert outcome.duration_seconds < 0.3 + DEADLINE_SLACK
    assert [s.fileno() for s in sockets] == [-1]  # the abandoned socket was closed


# --- DNS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gai_errno", "error_class", "error"),
    [
        (socket.EAI_NONAME, "dns_nxdomain", "the name shop.example does not exist (Name or service not known)"),
        (socket.EAI_AGAIN, "dns_error", "DNS lookup of shop.example failed: Temporary failure in name resolution"),
    ],
    ids=["nxdomain", "temporary-failure"],
)
async def test_resolution_failures_map_to_dns_classes(monkeypatch, run_tcp, gai_errno, error_class, error):
    def fail(_host, _port):
        raise socket.gaierror(
            gai_errno, {socket.EAI_NONAME: "Name or service not known", socket.EAI_AGAIN: "Temporary failure in name resolution"}[gai_errno]
        )

    fake_resolver(monkeypatch, fail)
    r = (await run_tcp("shop.example:443")).result

    assert (r.ok, r.error_class, r.error) == (False, error_class, error)
    assert r.facts == {"connected": False}


async def test_unresolvable_name_is_a_dns_error_quickly(run_tcp):
    outcome = await run_tcp("does-not-exist.invalid:443")

    assert outcome.result.error_class.startswith("dns_"), outcome.result
    assert outcome.duration_seconds < 2 + DEADLINE_SLACK


async def test_resolver_that_never_answers_is_dns_timeout(monkeypatch, run_tcp):
    async def hang(_host, _port):
        await asyncio.sleep(3600)

    fake_resolver(monkeypatch, hang)
    r = (await run_tcp("shop.example:443", timeout="300ms", interval="1s")).result

    assert (r.error_class, r.error) == ("dns_timeout", "no complete answer within 0.3s (dns phase)")


# --- the guard -------------------------------------------------------------------------------


async def test_loopback_is_blocked_by_default_and_nothing_connects(tcp_server, run_tcp):
    port, events = await tcp_server()
    r = (await run_tcp(f"127.0.0.1:{port}", guard=ALLOW_NOTHING)).result

    assert (r.ok, r.error_class) == (False, "blocked_destination")
    assert r.error == f"not connecting to 127.0.0.1:{port}: 127.0.0.1 {BLOCKED_LOOPBACK}"
    assert r.facts == {"address": "127.0.0.1", "connected": False}
    await asyncio.sleep(0.05)
    assert events == []


async def test_one_blocked_address_among_several_blocks_them_all(monkeypatch, tcp_server, run_tcp):
    port, events = await tcp_server()
    calls = fake_resolver(monkeypatch, lambda host, p: [v4("127.0.0.1", p), v4("10.1.2.3", p)])

    r = (await run_tcp(f"shop.example:{port}", guard=NetworkGuard(["127.0.0.0/8"]))).result

    assert (r.error_class, r.facts["address"]) == ("blocked_destination", "10.1.2.3")
    assert r.error == f"not connecting to shop.example:{port}: 10.1.2.3 {BLOCKED_LOOPBACK}"
    assert calls == [("shop.example", port)]
    await asyncio.sleep(0.05)
    assert events == []  # the allowed 127.0.0.1 was not contacted either


async def test_metadata_address_is_blocked_even_inside_an_allowed_range(run_tcp):
    r = (await run_tcp("169.254.169.254:80", guard=NetworkGuard(["169.254.0.0/16"]))).result

    assert (r.error_class, r.error) == (
        "blocked_destination",
        "not connecting to 169.254.169.254:80: 169.254.169.254 is a cloud metadata address (always blocked)",
    )


async def test_the_checked_address_is_the_one_connected_to(monkeypatch, tcp_server, run_tcp):
    port, _ = await tcp_server()
    calls = fake_resolver(monkeypatch, lambda host, p: [v4("127.0.0.1", p)])
    r = (await run_tcp(f"rebind.example:{port}", guard=NetworkGuard(["127.0.0.0/8"]))).result

    assert (r.ok, r.facts["address"]) == (True, "127.0.0.1")
    assert len(calls) == 1  # resolved once; no second lookup that could answer differently


# --- targets and config ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("allegro.pl:443", ("allegro.pl", 443)),
        ("127.0.0.1:5432", ("127.0.0.1", 5432)),
        ("[::1]:443", ("::1", 443)),
        ("[2001:db8::1]:8443", ("2001:db8::1", 8443)),
        ("sklep-łódź.pl:80", ("sklep-łódź.pl", 80)),
    ],
    ids=["name", "ipv4", "ipv6-loopback", "ipv6", "idn"],
)
def test_split_host_port_accepts_names_and_addresses(target, expected):
    assert tcp.split_host_port(target) == expected
    assert tcp.check_target(target) == target


HOST_PORT_HINT = "is not host:port; write e.g. allegro.pl:443 (IPv6 in brackets: [2001:db8::1]:443)"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("allegro.pl", f"'allegro.pl' {HOST_PORT_HINT}"),
        ("allegro.pl:", f"'allegro.pl:' {HOST_PORT_HINT}"),
        ("allegro.pl:https", f"'allegro.pl:https' {HOST_PORT_HINT}"),
        ("::1:443", f"'::1:443' {HOST_PORT_HINT}"),
        ("[not-v6]:443", f"'[not-v6]:443' {HOST_PORT_HINT}"),
        ("allegro.pl:443/koszyk", f"'allegro.pl:443/koszyk' {HOST_PORT_HINT}"),
        ("", f"'' {HOST_PORT_HINT}"),
        ("allegro.pl:0", "'allegro.pl:0' has port 0; a port is a number from 1 to 65535"),
        ("allegro.pl:65536", "'allegro.pl:65536' has port 65536; a port is a number from 1 to 65535"),
        ("https://allegro.pl:443", "'https://allegro.pl:443' is a URL; write host:port without the scheme, e.g. allegro.pl:443"),
    ],
    ids=["no-port", "empty-port", "named-port", "bare-ipv6", "bad-bracket", "path", "empty", "port-0", "port-too-big", "url"],
)
def test_check_target_rejects_non_host_port_with_the_fix(target, message):
    with pytest.raises(ValueError) as info:
        tcp.check_target(target)
    assert str(info.value) == message


def test_config_reports_a_bad_target_with_its_line():
    assert config_error(check_yaml("tcp", "allegro.pl")) == f"<config>:6: channels[0].checks[0].target: 'allegro.pl' {HOST_PORT_HINT}"


def test_config_rejects_options_tcp_does_not_have():
    assert config_error(check_yaml("tcp", "allegro.pl:443", verify="false")).startswith(
        "<config>:7: channels[0].checks[0].verify: unknown key 'verify'; allowed keys here:"
    )
