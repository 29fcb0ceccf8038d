"""HTTP(S) probe: status, body keywords, response time and body size of one request."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from functools import cache
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from pydantic import Field, field_validator, model_validator

from monitor.core.durations import Duration
from probes import http_client, http_errors, tls
from probes.base import ErrorClass, Fact, FactGauge, ProbeConfig, ProbeContext, ProbeKind, ProbeResult, Samples, number
from probes.guard import noncanonical_ipv4
from probes.http_errors import short

ERRORS = {
    **http_errors.ERRORS,
    "content_mismatch": ErrorClass("the page content is not what was expected"),
    "content_type": ErrorClass("the response has an unexpected content type"),
    "too_slow": ErrorClass("the response took longer than allowed", timed=True),
    "body_too_large": ErrorClass("the response body is larger than allowed"),
}
# blackbox_exporter's HTTP phases. Ours: resolve = DNS lookup; connect = TCP connect and, for https, the
# TLS handshake (timed as one step, as blackbox_exporter's connect+tls); processing = request sent to first byte;
# transfer = first byte to the end of the body.
HTTP_PHASES = ("resolve", "connect", "processing", "transfer")


class Config(ProbeConfig):
    method: Literal["GET", "HEAD"] = "GET"
    headers: dict[str, str] = {}
    # Statuses that count as success: numbers or classes like "2xx". Default: anything below 400.
    expect_status: list[int | str] = ["2xx", "3xx"]
    body_contains: list[str] = []  # every one must appear (case-insensitive)
    body_not_contains: list[str] = []  # none may appear: maintenance or captcha pages served with 200
    body_matches: list[str] = []  # regular expressions that must match (case-insensitive)
    body_not_matches: list[str] = []  # regular expressions that must not match
    content_type: str | None = None  # e.g. application/json: an HTML captcha page instead fails
    max_response_time: Duration | None = None
    max_body_bytes: int = Field(1_000_000, ge=1, le=100_000_000)  # counted after decompression
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=30)
    verify_tls: bool = True

    @field_validator("body_matches", "body_not_matches")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return values

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
        if self.method == "HEAD" and (self.body_contains or self.body_not_contains or self.body_matches or self.body_not_matches):
            raise ValueError("a HEAD request gets no body to search; use method: GET with body_contains/body_not_contains")
        return self


def check_target(target: str) -> str:
    """Accept only absolute http(s) URLs with a host."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in target):
        raise ValueError(f"{target!r} is not an http(s) URL; write e.g. https://shop.example.com/")
    canonical = noncanonical_ipv4(parts.hostname)
    if canonical is not None:
        raise ValueError(
            f"{target!r}: '{parts.hostname}' is an ambiguous spelling of an IPv4 address ({canonical}); write the address in dotted form"
        )
    return target


def status_allowed(status: int, expected: list[int | str]) -> bool:
    """True when status matches one of the expected numbers or classes."""
    return any(status == e if isinstance(e, int) else str(status)[0] == e[0] for e in expected)


@cache
def allowed_statuses(expected: tuple[int | str, ...]) -> frozenset[int]:
    """Every status from 100 to 599 that expected allows: a check judges each answer with one set lookup."""
    return frozenset(status for status in range(100, 600) if status_allowed(status, list(expected)))


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Make one request and judge it against the check's expectations."""
    user_agent = ctx.http.headers.get("User-Agent", "") if ctx.http is not None else ""
    try:
        request = http_client.prepare(config.method, target, tuple(config.headers.items()), user_agent)
        response = await http_client.fetch(
            request,
            guard=ctx.guard,
            tls_context=lambda: tls.client_context(config.verify_tls, None),
            follow_redirects=config.follow_redirects,
            max_redirects=config.max_redirects,
            limit=config.max_body_bytes,
            progress=ctx.progress,
        )
    except http_client.FetchFailed as exc:
        return ProbeResult.fail(exc.error_class, short(exc, exc.message))
    return judge(response, config)


def judge(response: http_client.Response, config: Config) -> ProbeResult:
    """The result of a complete answer: its facts, and the first expectation it breaks."""
    body, status, media_type = response.body, response.status, response.media_type
    elapsed = response.elapsed_seconds
    facts: dict[str, Fact] = {
        "status": status,
        "response_time_seconds": round(elapsed, 6),
        "first_byte_seconds": round(response.first_byte_seconds, 6),
    }
    if response.dns_seconds is not None:
        facts["dns_seconds"] = round(response.dns_seconds, 6)
    if response.connect_seconds is not None:
        facts["connect_seconds"] = round(response.connect_seconds, 6)
    facts["body_bytes"] = len(body)
    facts["content_type"] = media_type
    facts["redirects"] = response.redirects
    if response.certificate:
        cert_expiry = _cert_expiry(response.certificate)
        if cert_expiry is not None:
            facts["cert_expiry_seconds"] = round(cert_expiry[0], 1)
            facts["cert_not_after"] = cert_expiry[1]
    charset = response.charset
    text = cache(lambda: decode(body, charset))
    data = {"body": cache(lambda: json.loads(text())), "body_text": text}
    if response.too_large:
        return ProbeResult.fail("body_too_large", f"body larger than {config.max_body_bytes} bytes", **facts)
    if status not in allowed_statuses(tuple(config.expect_status)):
        return ProbeResult.fail("http_status", f"HTTP {status}", **facts)
    if config.max_response_time is not None and elapsed > config.max_response_time:
        return ProbeResult.fail("too_slow", f"response took {elapsed:.3f}s, limit {config.max_response_time:g}s", **facts)
    if config.content_type and media_type.lower() != config.content_type.lower():
        return ProbeResult.fail("content_type", f"expected {config.content_type}, got {media_type or 'none'}", **facts)
    problem = _body_problem(config, text)
    if problem:
        return ProbeResult.fail("content_mismatch", problem, **facts)
    return ProbeResult(ok=True, facts=facts, data=data)


def _body_problem(config: Config, text) -> str | None:
    """The first content expectation the body breaks, in words; None when it meets them all."""
    if not (config.body_contains or config.body_not_contains or config.body_matches or config.body_not_matches):
        return None  # most checks have none: do not decode the body at all
    folded = text().casefold()
    # Forbidden text first: "przerwa techniczna" explains the failure better than the missing
    # "Add to cart" that a maintenance page also lacks.
    for keyword in config.body_not_contains:
        if keyword.casefold() in folded:
            return f"body contains {keyword!r}"
    for pattern in config.body_not_matches:
        if match := re.search(pattern, text(), re.IGNORECASE):
            return f"body matches {pattern!r} ({match.group()[:60]!r})"
    for keyword in config.body_contains:
        if keyword.casefold() not in folded:
            return f"body lacks {keyword!r}"
    for pattern in config.body_matches:
        if not re.search(pattern, text(), re.IGNORECASE):
            return f"body does not match {pattern!r}"
    return None


def _cert_expiry(der: bytes) -> tuple[float, float] | None:
    """Seconds until the server certificate expires, and when (Unix time; https only), for [CERT_EXPIRY]
    conditions and the probe_ssl_earliest_cert_expiry metric."""
    try:
        not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:  # a certificate cryptography cannot parse: no expiry, the request itself went fine
        return None
    return not_after - time.time(), not_after


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most limit decompressed bytes, so a gzip bomb stops at the limit."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        if len(body) + len(chunk) > limit:
            body += chunk[: limit - len(body)]
            return bytes(body), True
        body += chunk
    return bytes(body), False


def decode(body: bytes, charset: str | None) -> str:
    """Decode with the page's declared charset (Polish shops still serve ISO-8859-2), else UTF-8."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name in Content-Type
        return body.decode("utf-8", errors="replace")


def http_phases(facts: Mapping[str, Fact]) -> dict[str, float]:
    """blackbox_exporter's phases from an HTTP result's facts (0 for a phase not reached or not measured)."""
    resolve, connect = number(facts.get("dns_seconds")) or 0.0, number(facts.get("connect_seconds")) or 0.0
    first_byte, total = number(facts.get("first_byte_seconds")) or 0.0, number(facts.get("response_time_seconds")) or 0.0
    return {
        "resolve": resolve,
        "connect": connect,  # rounded to the facts' microseconds: no 5.6000000001e-05
        "processing": round(max(0.0, first_byte - resolve - connect), 6) if first_byte else 0.0,
        "transfer": round(max(0.0, total - first_byte), 6) if first_byte else 0.0,
    }


def _phase_samples(result: ProbeResult) -> Samples:
    # Like blackbox_exporter: a request that got no answer shows zero phases and status 0.
    return [((phase,), seconds) for phase, seconds in http_phases(result.facts).items()]


def _status_sample(result: ProbeResult) -> Samples:
    status = result.facts.get("status")
    return [((), status if isinstance(status, int) and not isinstance(status, bool) else 0)]


PHASES = FactGauge(
    "probe_http_duration_seconds",
    "Duration of each phase of the last HTTP request (connect includes the TLS handshake; 0 for a phase not reached)",
    _phase_samples,
    ("phase",),
)
STATUS = FactGauge("probe_http_status_code", "HTTP status of the last response (0: no response)", _status_sample)

KIND = ProbeKind(
    Config,
    probe,
    check_target,
    placeholders={
        "STATUS": "status",
        "RESPONSE_TIME": "response_time_seconds",
        "BODY": "body",
        "BODY_TEXT": "body_text",
        "CONTENT_TYPE": "content_type",
        "CERT_EXPIRY": "cert_expiry_seconds",
        "REDIRECTS": "redirects",
    },
    error_classes=ERRORS,
    gauges=(PHASES, STATUS, tls.CERT_EXPIRY),
    latency=True,
)
