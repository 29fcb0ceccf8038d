"""TCP probe: does host:port accept a connection? Also the resolve-guard-connect steps tls.py reuses."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import time

from probes.base import Fact, ProbeConfig, ProbeContext, ProbeKind, ProbeResult
from probes.guard import BlockedDestination, noncanonical_ipv4

_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\[\]]+)\]|(?P<host>[^\s\[\]:/@?#]+))(?::(?P<port>\d{1,5}))?")
_UNREACHABLE = (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH)


class Config(ProbeConfig):
    pass  # nothing to set: the check is "the port accepts a connection"; see [CONNECT_TIME] for speed


def split_host_port(target: str, default_port: int | None = None) -> tuple[str, int]:
    """'host:port' or '[v6]:port' (port optional when default_port is given) -> (host, port)."""
    example = "allegro.pl:443" if default_port is None else "allegro.pl or allegro.pl:443"
    shape = "host:port" if default_port is None else "host or host:port"
    if "://" in target:
        raise ValueError(f"{target!r} is a URL; write {shape} without the scheme, e.g. {example}")
    match = _HOST_PORT.fullmatch(target)
    v6 = match and match.group("v6")
    if v6:
        try:
            ipaddress.IPv6Address(v6.split("%", 1)[0])
        except ValueError:
            match = None
    if not match or (match.group("port") is None and default_port is None):
        raise ValueError(f"{target!r} is not {shape}; write e.g. {example} (IPv6 in brackets: [2001:db8::1]:443)")
    port = default_port if match.group("port") is None else int(match.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError(f"{target!r} has port {port}; a port is a number from 1 to 65535")
    host = v6 or match.group("host")
    canonical = noncanonical_ipv4(host)
    if canonical is not None:
        raise ValueError(
            f"{target!r}: '{host}' is an ambiguous spelling of an IPv4 address ({canonical}); write the address in dotted form"
        )
    return host, port


def check_target(target: str) -> str:
    split_host_port(target)
    return target


async def resolve_checked(host: str, port: int, ctx: ProbeContext) -> list[tuple] | ProbeResult:
    """Resolve host with the loop's getaddrinfo and check EVERY address with the guard.

    Returns the addrinfo tuples to connect to, or the failure. Callers connect to these IPs, never
    to the name again, so a second DNS answer (rebinding) cannot swap in an unchecked address.
    """
    ctx.progress["phase"] = "dns"
    canonical = noncanonical_ipv4(host)
    if canonical is not None:  # the config rejects these; a target built otherwise is refused, not resolved
        return ProbeResult.fail(
            "blocked_destination", f"not connecting to {host}: an ambiguous spelling of an IPv4 address ({canonical})", connected=False
        )
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            return ProbeResult.fail("dns_nxdomain", f"the name {host} does not exist ({exc.strerror})", connected=False)
        if exc.errno == getattr(socket, "EAI_NODATA", None):
            return ProbeResult.fail("dns_no_answer", f"the name {host} has no address ({exc.strerror})", connected=False)
        return ProbeResult.fail("dns_error", f"DNS lookup of {host} failed: {exc.strerror or exc}", connected=False)
    infos = [i for i in dict.fromkeys(infos) if i[0] in (socket.AF_INET, socket.AF_INET6)]
    if not infos:
        return ProbeResult.fail("dns_no_answer", f"the name {host} has no IPv4 or IPv6 address", connected=False)
    for *_, sockaddr in infos:  # all of them before any connect: a blocked one means no packet at all
        try:
            ctx.guard.check(sockaddr[0])
        except BlockedDestination as exc:
            return ProbeResult.fail("blocked_destination", f"not connecting to {host}:{port}: {exc}", address=sockaddr[0], connected=False)
    return infos


async def connect_first(infos: list[tuple], host: str, port: int, ctx: ProbeContext) -> tuple[socket.socket, dict[str, Fact]] | ProbeResult:
    """Connect to the checked addresses in order; the first that answers wins.

    Returns the connected socket (the caller closes it) with its facts, or the failure.
    """
    ctx.progress["phase"] = "connect"
    loop = asyncio.get_running_loop()
    failures: list[tuple[str, OSError]] = []
    start = time.perf_counter()
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            failures.append((sockaddr[0], exc))
            continue
        except BaseException:  # the runner's deadline (CancelledError) included
            sock.close()
            raise
        return sock, {"address": sockaddr[0], "connect_seconds": round(time.perf_counter() - start, 6)}
    return _connect_failure(host, port, failures, time.perf_counter() - start)


def _connect_failure(host: str, port: int, failures: list[tuple[str, OSError]], elapsed: float) -> ProbeResult:
    address, exc = failures[-1]
    where = f"{host}:{port}" + (f" ({address})" if address != host else "")
    more = f"; all {len(failures)} addresses failed" if len(failures) > 1 else ""
    facts: dict[str, Fact] = {"address": address, "connect_seconds": round(elapsed, 6), "connected": False}
    if exc.errno == errno.ECONNREFUSED:
        return ProbeResult.fail("connect_refused", f"connection refused by {where}{more}", **facts)
    if exc.errno in _UNREACHABLE:
        return ProbeResult.fail("connect_timeout", f"cannot reach {where}: {exc.strerror}{more}", **facts)
    return ProbeResult.fail("connect_error", f"cannot connect to {where}: {exc.strerror or exc}{more}", **facts)


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Connect to host:port and close the connection again."""
    host, port = split_host_port(target)
    infos = await resolve_checked(host, port, ctx)
    if isinstance(infos, ProbeResult):
        return infos
    outcome = await connect_first(infos, host, port, ctx)
    if isinstance(outcome, ProbeResult):
        return outcome
    sock, facts = outcome
    sock.close()
    return ProbeResult(ok=True, facts={**facts, "connected": True})


KIND = ProbeKind(
    Config, probe, check_target, placeholders={"CONNECTED": "connected", "CONNECT_TIME": "connect_seconds", "ADDRESS": "address"}
)
