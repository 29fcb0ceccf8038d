"""HTTP(S) probe: status, body keywords, response time and body size of one request."""
from __future__ import annotations

import errno
import socket
import ssl
import time
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

from monitor.durations import Duration
from probes.base import ProbeConfig, ProbeContext, ProbeKind, ProbeResult


class Config(ProbeConfig):
    method: Literal["GET", "HEAD"] = "GET"
    headers: dict[str, str] = {}
    # Statuses that count as success: numbers or classes like "2xx". Default: anything below 400.
    expect_status: list[int | str] = ["2xx", "3xx"]
    body_contains: list[str] = []       # every one must appear (case-insensitive)
    body_not_contains: list[str] = []   # none may appear: maintenance or captcha pages served with 200
    max_response_time: Duration | None = None
    max_body_bytes: int = Field(1_000_000, ge=1, le=100_000_000)  # counted after decompression
    follow_redirects: bool = True
    verify_tls: bool = True

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, values: list[int | str]) -> list[int | str]:
        if not values:
            raise ValueError("an empty list accepts no status at all; list at least one, e.g. [200] or ['2xx']")
        for value in values:
            if isinstance(value, int) and 100 <= value <= 599:
                continue
            if isinstance(value, str) and len(value) == 3 and value[0] in "12345" and value[1:] == "xx":
                continue
            raise ValueError(f"{value!r} is not an HTTP status; use a number from 100 to 599 or a class like '2xx'")
        return values

    @model_validator(mode="after")
    def _head_has_no_body(self) -> Config:
        # Without this, body_not_contains would silently never fire and body_contains always fail.
        if self.method == "HEAD" and (self.body_contains or self.body_not_contains):
            raise ValueError("a HEAD request gets no body to search; use method: GET with body_contains/body_not_contains")
        return self


def check_target(target: str) -> str:
    """Accept only absolute http(s) URLs with a host."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{target!r} is not an http(s) URL; write e.g. https://shop.example.com/")
    return target


def status_allowed(status: int, expected: list[int | str]) -> bool:
    """True when status matches one of the expected numbers or classes."""
    return any(status == e if isinstance(e, int) else str(status)[0] == e[0] for e in expected)


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Make one request and judge it against the check's expectations."""
    start = time.perf_counter()
    try:
        async with ctx.http.request(
            config.method, target, headers=config.headers, allow_redirects=config.follow_redirects,
            ssl=None if config.verify_tls else False, trace_request_ctx=ctx.progress,
        ) as response:
            ctx.progress["phase"] = "body"
            first_byte = time.perf_counter() - start
            body, too_large = await _read_limited(response, config.max_body_bytes)
            status, charset = response.status, response.charset
    except aiohttp.ClientError as exc:
        return _client_error(exc)
    elapsed = time.perf_counter() - start
    facts = {"status": status, "response_time_seconds": round(elapsed, 6),
             "first_byte_seconds": round(first_byte, 6), "body_bytes": len(body)}
    if too_large:
        return ProbeResult.fail("body_too_large", f"body larger than {config.max_body_bytes} bytes", **facts)
    if not status_allowed(status, config.expect_status):
        return ProbeResult.fail("http_status", f"HTTP {status}", **facts)
    if config.max_response_time is not None and elapsed > config.max_response_time:
        return ProbeResult.fail("too_slow", f"response took {elapsed:.3f}s, limit {config.max_response_time:g}s", **facts)
    text = _decode(body, charset).casefold()
    # Forbidden text first: "przerwa techniczna" explains the failure better than the missing
    # "Add to cart" that a maintenance page also lacks.
    present = [k for k in config.body_not_contains if k.casefold() in text]
    if present:
        return ProbeResult.fail("content_mismatch", f"body contains {present[0]!r}", **facts)
    missing = [k for k in config.body_contains if k.casefold() not in text]
    if missing:
        return ProbeResult.fail("content_mismatch", f"body lacks {missing[0]!r}", **facts)
    return ProbeResult(ok=True, facts=facts)


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most limit decompressed bytes, so a gzip bomb stops at the limit."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        if len(body) + len(chunk) > limit:
            body += chunk[: limit - len(body)]
            return bytes(body), True
        body += chunk
    return bytes(body), False


def _decode(body: bytes, charset: str | None) -> str:
    """Decode with the page's declared charset (Polish shops still serve ISO-8859-2), else UTF-8."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name in Content-Type
        return body.decode("utf-8", errors="replace")


def _client_error(exc: aiohttp.ClientError) -> ProbeResult:
    """Map aiohttp's exceptions onto the closed set of error classes."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        if isinstance(exc.os_error, socket.gaierror) and exc.os_error.errno == socket.EAI_NONAME:
            return ProbeResult.fail("dns_nxdomain", f"the name {exc.host} does not exist ({exc.os_error.strerror})")
        return ProbeResult.fail("dns_error", f"DNS lookup failed: {exc.os_error.strerror or exc.os_error}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = str(exc.certificate_error)
        cls = "tls_expired" if "expired" in reason else "tls_invalid"
        return ProbeResult.fail(cls, f"TLS certificate: {reason}")
    if isinstance(exc, aiohttp.ClientSSLError) or isinstance(getattr(exc, "os_error", None), ssl.SSLError):
        return ProbeResult.fail("tls_invalid", f"TLS handshake failed: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        if code == errno.ECONNREFUSED:
            return ProbeResult.fail("connect_refused", f"connection refused by {exc.host}:{exc.port}")
        if code in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
            return ProbeResult.fail("connect_timeout", f"cannot reach {exc.host}:{exc.port}: {exc.os_error.strerror}")
        return ProbeResult.fail("connect_error", f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProbeResult.fail("connect_timeout", "connection timed out")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return ProbeResult.fail("timeout", "the server stopped sending")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProbeResult.fail("http_status", f"too many redirects ({len(exc.history)})")
    if isinstance(exc, aiohttp.RedirectClientError):  # Location is not a usable http(s) URL
        return ProbeResult.fail("http_status", f"redirect to an invalid or non-http(s) URL: {_short(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ProbeResult.fail("http_protocol", "the server closed the connection without a complete answer")
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientConnectionResetError):
        # Connector errors returned above, so the connection was up: the server dropped it mid-request.
        detail = getattr(exc, "strerror", None) or _short(exc)
        return ProbeResult.fail("http_protocol", f"the server closed the connection without a complete answer ({detail})")
    if isinstance(exc, aiohttp.ClientResponseError):
        # A parse failure; its .status is aiohttp's placeholder 400, not something the server sent.
        return ProbeResult.fail("http_protocol", f"invalid HTTP answer: {_short(exc, exc.message)}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProbeResult.fail("http_protocol", f"invalid HTTP answer: {_short(exc)}")
    return ProbeResult.fail("connect_error", f"request failed: {_short(exc)}")


def _short(exc: Exception, text: str | None = None) -> str:
    text = " ".join((text or str(exc)).split()) or type(exc).__name__  # one line, for alerts and logs
    return text if len(text) <= 200 else text[:197] + "..."


KIND = ProbeKind(Config, probe, check_target)
