"""The shared HTTP client session, with tracing that tells probes which phase a request is in."""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.connector import Connection

from probes.guard import ALLOW_NOTHING, NetworkGuard


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


def phase_trace_config() -> aiohttp.TraceConfig:
    """Record the request phase and its timestamps into the dict passed as trace_request_ctx."""
    trace = aiohttp.TraceConfig()
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
    connector = aiohttp.TCPConnector(limit=0, force_close=True, use_dns_cache=False,
                                     socket_factory=guard.socket_factory)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        timeout=aiohttp.ClientTimeout(total=None),  # the runner owns the deadline
        trace_configs=[phase_trace_config()],
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        response_class=CertificateResponse,
    )
