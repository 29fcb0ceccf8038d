"""The aiohttp client sessions: the probes' (the statuspage and opengraph kinds; tracing tells them which phase a
request is in; the http kind has its own client, probes/http_client.py) and the one outbound session of notifiers
and actuators. Both connect only through the network guard."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.connector import Connection

from probes.guard import ALLOW_NOTHING, BlockedDestination, NetworkGuard, noncanonical_ipv4


def _mark(phase: str, key: str | None = None, since: str | None = None):
    """Set the phase and stamp `key`; with `since`, also add the time from that stamp to `key`_total.

    A redirected request goes through DNS and connect once per hop and each hop overwrites the stamps,
    so the durations are summed per hop (as blackbox_exporter does) rather than taken from the last one."""

    async def callback(_session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: Any) -> None:
        progress = ctx.trace_request_ctx
        if isinstance(progress, dict):
            progress["phase"] = phase
            if key:
                now = progress[key] = time.perf_counter()
                if since and since in progress:
                    progress[key + "_total"] = progress.get(key + "_total", 0.0) + now - progress[since]

    return callback


async def _refuse_odd_spelling(
    _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: aiohttp.TraceDnsResolveHostStartParams
) -> None:
    # aiohttp refuses '127.1' itself but hands '0x7f.0.0.1' to the resolver, which reads it as 127.0.0.1: refuse
    # every numeric spelling but the dotted one before any lookup, on every hop (an aiohttp DNS error wraps it).
    canonical = noncanonical_ipv4(params.host)
    if canonical is not None:
        raise BlockedDestination(f"{params.host} is an ambiguous spelling of an IPv4 address ({canonical})")


def phase_trace_config() -> aiohttp.TraceConfig:
    """Record the request phase and its timestamps into the dict passed as trace_request_ctx."""
    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(_refuse_odd_spelling)
    trace.on_dns_resolvehost_start.append(_mark("dns", "dns_start"))
    trace.on_dns_resolvehost_end.append(_mark("connect", "dns_end", since="dns_start"))
    trace.on_connection_create_start.append(_mark("connect", "connect_start"))
    trace.on_connection_create_end.append(_mark("request", "connect_end", since="connect_start"))
    trace.on_request_headers_sent.append(_mark("response", "headers_sent"))
    return trace


class CertificateResponse(aiohttp.ClientResponse):
    """A response that keeps the server certificate (DER) of the connection it arrived on.

    With a fresh connection per probe, aiohttp releases (closes) the connection as soon as a short body
    has arrived, before the probe gets the response: the certificate must be taken while it is open.
    """

    peer_certificate: bytes | None = None

    async def start(self, connection: Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        # The DER form: unlike the parsed dict it is there with verification off (verify_tls: false) too.
        self.peer_certificate = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return await super().start(connection)


def create_http_session(user_agent: str, guard: NetworkGuard = ALLOW_NOTHING) -> aiohttp.ClientSession:
    """Build the one client session all probes share; every connection passes the guard."""
    # A fresh connection per probe (force_close) and no DNS cache, as blackbox_exporter does: a
    # monitor that reuses a pooled connection or a cached address would not see DNS or connect
    # failures until the pool expires.
    connector = aiohttp.TCPConnector(limit=0, force_close=True, use_dns_cache=False, socket_factory=guard.socket_factory)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        timeout=aiohttp.ClientTimeout(total=None),  # the runner owns the deadline
        trace_configs=[phase_trace_config()],
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        response_class=CertificateResponse,
    )


class RedirectRefused(aiohttp.ClientError):
    """A notifier's or actuator's request answered with a redirect: not followed (it could lead anywhere)."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} redirect to {location}: redirects are not followed; use the final URL")
        self.status, self.location = status, location


async def _refuse_redirect(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: aiohttp.TraceRequestRedirectParams) -> None:
    location = params.response.headers.get("Location", "")
    host = urlsplit(location).hostname or "the same server"  # the host only: the path may carry a secret
    raise RedirectRefused(params.response.status, host)


def create_outbound_session(user_agent: str, guard: NetworkGuard = ALLOW_NOTHING) -> aiohttp.ClientSession:
    """The session notifiers and actuators share (Slack, webhooks, ad APIs): pooled connections, every one
    through the guard, and no redirect followed whatever a library asks (a receiver that redirects is told so).

    Callers pass their own timeout per request."""
    connector = aiohttp.TCPConnector(limit=100, socket_factory=guard.socket_factory)
    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    trace.on_dns_resolvehost_start.append(_refuse_odd_spelling)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        timeout=aiohttp.ClientTimeout(total=60),
        trace_configs=[trace],
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def outbound_failure(exc: BaseException) -> tuple[str, bool]:
    """(what went wrong, permanent) for a notifier's or actuator's failed request, naming no URL path: a blocked
    address or a redirect is the config's to fix (permanent); a refused or slow connection may pass."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, BlockedDestination):
        return f"not connecting to {exc.host}: {exc.os_error}", True  # (a DNS error wraps it for odd spellings)
    if isinstance(exc, BlockedDestination):
        return f"not connecting: {exc}", True
    if isinstance(exc, RedirectRefused):
        return str(exc), True
    if isinstance(exc, aiohttp.InvalidUrlClientError):
        raw = str(exc.url)  # aiohttp puts the whole URL there, or only the host it refused
        host = (urlsplit(raw).hostname or "") if "://" in raw else raw
        canonical = noncanonical_ipv4(host)
        if canonical is not None:
            return f"not connecting to {host}: an ambiguous spelling of an IPv4 address ({canonical})", True
        return "the URL is not valid", True
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "no answer in time", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused by {exc.host}:{exc.port}", False
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or type(exc.os_error).__name__})", False
    return f"the connection failed ({type(exc).__name__})", False  # aiohttp's own text may quote the URL
