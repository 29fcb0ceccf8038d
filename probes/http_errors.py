"""How aiohttp's exceptions map onto the closed set of error classes (shared by HTTP-based probes)."""

from __future__ import annotations

import errno
import re
import socket
import ssl
from urllib.parse import urlsplit

import aiohttp

from monitor.core.redact import redact_url
from probes import tls
from probes.base import ErrorClass, ProbeResult
from probes.guard import BlockedDestination, noncanonical_ipv4

# The classes client_error maps to beyond the shared ones: every kind that uses it fails with these too.
ERRORS: dict[str, ErrorClass] = {
    "http_status": ErrorClass("unexpected HTTP status"),
    "http_protocol": ErrorClass("the server's answer is not valid HTTP"),
    "tls_expired": tls.ERRORS["tls_expired"],  # an https target's certificate
    "tls_invalid": tls.ERRORS["tls_invalid"],
}


def client_error(exc: aiohttp.ClientError) -> ProbeResult:
    """Map aiohttp's exceptions onto the closed set of error classes."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, BlockedDestination):
        return ProbeResult.fail("blocked_destination", f"not connecting to {exc.host}: {exc.os_error}")
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
        return ProbeResult.fail("http_status", f"too many redirects (more than {len(exc.history) - 1})")
    if isinstance(exc, aiohttp.InvalidUrlClientError) and (ambiguous := _ambiguous_host(exc)):
        return ProbeResult.fail("blocked_destination", ambiguous)  # '127.1', '2130706433': never connected to
    if isinstance(exc, aiohttp.RedirectClientError):  # Location is not a usable http(s) URL
        return ProbeResult.fail("http_status", f"redirect to an invalid or non-http(s) URL: {short(exc)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ProbeResult.fail("http_protocol", "the server closed the connection without a complete answer")
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientConnectionResetError):
        # Connector errors returned above, so the connection was up: the server dropped it mid-request.
        detail = getattr(exc, "strerror", None) or short(exc)
        return ProbeResult.fail("http_protocol", f"the server closed the connection without a complete answer ({detail})")
    if isinstance(exc, aiohttp.ClientResponseError):
        # A parse failure; its .status is aiohttp's placeholder 400, not something the server sent.
        return ProbeResult.fail("http_protocol", f"invalid HTTP answer: {short(exc, exc.message)}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProbeResult.fail("http_protocol", f"invalid HTTP answer: {short(exc)}")
    return ProbeResult.fail("connect_error", f"request failed: {short(exc)}")


def _ambiguous_host(exc: aiohttp.InvalidUrlClientError) -> str | None:
    """'not connecting to 127.1: ...' when the URL's host is a numeric IPv4 spelling other than dotted quad."""
    raw = str(exc.url)  # aiohttp puts the whole URL there, or only the host it refused
    host = (urlsplit(raw).hostname or "") if "://" in raw else raw
    canonical = noncanonical_ipv4(host)
    if canonical is None:
        return None
    return f"not connecting to {host}: an ambiguous spelling of an IPv4 address ({canonical}); write it in dotted form"


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def short(exc: Exception, text: str | None = None) -> str:
    """One line of at most 200 characters, for alerts and logs."""
    text = " ".join((text or str(exc)).split()) or type(exc).__name__  # one line, for alerts and logs
    # Error text is shown on the public status page: a URL in it (a redirect's Location) loses its
    # credentials and query string, which may carry tokens.
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return text if len(text) <= 200 else text[:197] + "..."
