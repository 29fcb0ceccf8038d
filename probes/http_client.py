"""The HTTP probe's client: one request on a fresh connection, timed phase by phase, through the network guard.

Why not aiohttp's client here (it still serves the status-page and catalog probes, notifiers and actuators):
per probe it built request and response objects, a URL object, header multidicts, a connector lookup and
five trace-signal callbacks for the phase timings, about half of a probe's CPU (py-spy at 1,000 probes/s,
bench/README.md). A probe needs one request and one response on a fresh connection: the request is built
once per check (`prepare`, memoised), the phases are timed inline, and the response is read by
probes/http_wire.py.

Semantics kept from the aiohttp client, as blackbox_exporter has them: a fresh connection and a fresh DNS
lookup per probe (a DNS change, a refused connection or a TLS problem shows at the next probe), every
address checked by the guard before the socket connects to it, redirects followed hop by hop (each hop
through the guard), the body decompressed and cut at the check's limit.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from probes.guard import BlockedDestination, NetworkGuard, noncanonical_ipv4
from probes.http_wire import Head, NoAnswer, ProtocolError, ResponseParser

REDIRECTS = (301, 302, 303, 307, 308)
# Sent to the target's host only: not carried to another host by a redirect.
_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class FetchFailed(Exception):
    """The request did not get a usable answer: error_class (the closed set's) and the reason in words."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class, self.message = error_class, message


@dataclass(frozen=True, slots=True)
class Request:
    """One request, ready to send: everything derived from the check's URL, method and headers."""

    method: str
    url: str
    host: str  # as in the URL, without brackets (what the guard and the alert name)
    port: int
    tls: bool
    address: bool  # host is an IP address literal: no DNS lookup
    data: bytes  # the request line and headers
    headers: tuple[tuple[str, str], ...]  # the configured ones, for the next hop of a redirect
    user_agent: str


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    head: Head
    body: bytes
    too_large: bool
    redirects: int
    elapsed_seconds: float  # from the start of the fetch to the end of the body (all hops)
    first_byte_seconds: float  # from the start of the fetch to the complete response head
    dns_seconds: float | None  # summed over the hops; None when no lookup was made (address literals)
    connect_seconds: float | None  # TCP connect plus TLS handshake, summed over the hops
    certificate: bytes | None  # the server certificate (DER) of the final hop, for https

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower case (application/octet-stream when absent, as RFC 9110)."""
        value = self.head.get("content-type").split(";", 1)[0].strip().lower()
        return value or "application/octet-stream"

    @property
    def charset(self) -> str | None:
        for param in self.head.get("content-type").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip('"') or None
        return None


@lru_cache(maxsize=65_536)
def prepare(method: str, url: str, headers: tuple[tuple[str, str], ...], user_agent: str) -> Request:
    """The request for a check (memoised: a check sends the same request every time). Raises FetchFailed for
    a URL that cannot be requested (only a redirect's Location can be one: targets are checked at config load)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise FetchFailed("http_status", f"redirect to an invalid or non-http(s) URL: {url}")
    canonical = noncanonical_ipv4(host)
    if canonical is not None:
        raise FetchFailed(
            "blocked_destination",
            f"not connecting to {host}: an ambiguous spelling of an IPv4 address ({canonical}); write it in dotted form",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchFailed("http_status", f"redirect to an invalid or non-http(s) URL: {url}") from None
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        address = True
    except ValueError:
        address = False
    try:
        wire_host = host if address else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchFailed("dns_error", f"DNS lookup failed: {host!r} is not a valid host name") from None
    authority = f"[{wire_host}]" if ":" in wire_host else wire_host
    if parts.port and parts.port != (443 if parts.scheme == "https" else 80):
        authority += f":{parts.port}"
    target = quote(parts.path or "/", safe=_PATH_SAFE) + (f"?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else "")
    fields = {"host": ("Host", authority), "user-agent": ("User-Agent", user_agent), "accept": ("Accept", "*/*")}
    fields["accept-encoding"] = ("Accept-Encoding", "gzip, deflate")
    if parts.username is not None:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        fields["authorization"] = ("Authorization", f"Basic {token}")
    for name, value in headers:
        fields[name.lower()] = (name, value)
    fields["connection"] = ("Connection", "close")  # one request per connection, always
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.values())]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
    return Request(method, url, host, port, parts.scheme == "https", address, data, headers, user_agent)


async def fetch(
    request: Request,
    *,
    guard: NetworkGuard,
    tls_context: Callable[[], ssl.SSLContext],
    follow_redirects: bool,
    max_redirects: int,
    limit: int,
    progress: dict[str, Any],
) -> Response:
    """Send the request and read the answer, following redirects; raises FetchFailed. progress["phase"] says
    where it is (dns, connect, request, response, body), so a deadline that cuts it off can say which phase."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    redirects = 0
    while True:
        parser, certificate = await _exchange(request, guard, tls_context, limit, follow_redirects, progress, timings)
        head = parser.head
        assert head is not None
        location = _utf8(head.get("location"))
        if follow_redirects and head.status in REDIRECTS and location:
            redirects += 1
            if redirects > max_redirects:
                raise FetchFailed("http_status", f"too many redirects (more than {max_redirects})")
            request = _next_hop(request, head.status, urljoin(request.url, location))
            continue
        return Response(
            head.status,
            head,
            bytes(parser.body),
            parser.too_large,
            redirects,
            time.perf_counter() - start,
            timings["first_byte"] - start,
            timings.get("dns"),
            timings.get("connect"),
            certificate,
        )


def _utf8(value: str) -> str:
    """A header value as UTF-8 when its bytes are UTF-8: the head is read as Latin-1, but a Location with
    unescaped non-ASCII (/koszyk/żółw) is UTF-8 on the wire, as aiohttp and browsers read it."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _next_hop(previous: Request, status: int, url: str) -> Request:
    method = "GET" if status == 303 and previous.method != "HEAD" else previous.method
    headers = previous.headers
    nxt = prepare(method, url, headers, previous.user_agent)
    if (nxt.host, nxt.port, nxt.tls) != (previous.host, previous.port, previous.tls) and headers:
        kept = tuple((n, v) for n, v in headers if n.lower() not in _CREDENTIALS)
        nxt = prepare(method, url, kept, previous.user_agent) if kept != headers else nxt
    return nxt


async def _exchange(
    request: Request,
    guard: NetworkGuard,
    tls_context: Callable[[], ssl.SSLContext],
    limit: int,
    stop_at_redirect: bool,
    progress: dict[str, Any],
    timings: dict[str, float],
) -> tuple[ResponseParser, bytes | None]:
    loop = asyncio.get_running_loop()
    infos = await _resolve(loop, request, progress, timings)
    progress["phase"] = "connect"
    began = time.perf_counter()
    sock = await _connect(loop, request, infos, guard)
    exchange = _Exchange(ResponseParser(head_request=request.method == "HEAD", limit=limit), loop.create_future(), progress, timings)
    exchange.stop_at_redirect = stop_at_redirect
    try:
        transport, _ = await loop.create_connection(
            lambda: exchange,
            sock=sock,
            ssl=tls_context() if request.tls else None,
            server_hostname=request.host.rstrip(".") if request.tls else None,
        )
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        reason = exc.verify_message or str(exc)
        raise FetchFailed("tls_expired" if "expired" in reason else "tls_invalid", f"TLS certificate: {reason}") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise FetchFailed("tls_invalid", f"TLS handshake failed: {_reason(exc)}") from None
    except BaseException:
        sock.close()
        raise
    timings["connect"] = timings.get("connect", 0.0) + time.perf_counter() - began
    try:
        certificate = None
        if request.tls:
            ssl_object = transport.get_extra_info("ssl_object")
            # The DER form: unlike the parsed dict it is there with verification off (verify_tls: false) too.
            certificate = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        progress["phase"] = "response"
        transport.write(request.data)
        await exchange.finished
        return exchange.parser, certificate
    finally:
        transport.abort()  # one response per connection: nothing else to wait for


async def _resolve(loop: asyncio.AbstractEventLoop, request: Request, progress: dict[str, Any], timings: dict[str, float]) -> list:
    if request.address:
        family = socket.AF_INET6 if ":" in request.host else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (request.host, request.port))]
    progress["phase"] = "dns"
    began = time.perf_counter()
    try:
        infos = await loop.getaddrinfo(request.host, request.port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            raise FetchFailed("dns_nxdomain", f"the name {request.host} does not exist ({exc.strerror})") from None
        raise FetchFailed("dns_error", f"DNS lookup failed: {exc.strerror or exc}") from None
    except OSError as exc:
        raise FetchFailed("dns_error", f"DNS lookup failed: {exc.strerror or exc}") from None
    timings["dns"] = timings.get("dns", 0.0) + time.perf_counter() - began
    if not infos:
        raise FetchFailed("dns_error", f"DNS lookup failed: no address for {request.host}")
    return list(infos)


async def _connect(loop: asyncio.AbstractEventLoop, request: Request, infos: list, guard: NetworkGuard) -> socket.socket:
    """A socket connected to the first address that accepts; every resolved address is checked by the guard
    first (a name that also resolves to a blocked address is refused: no second answer can swap one in)."""
    for info in infos:
        try:
            guard.check(info[4][0])
        except BlockedDestination as exc:
            raise FetchFailed("blocked_destination", f"not connecting to {request.host}: {exc}") from None
    last: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    assert last is not None
    where = f"{request.host}:{request.port}"
    if isinstance(last, ConnectionRefusedError):
        raise FetchFailed("connect_refused", f"connection refused by {where}")
    if last.errno in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
        raise FetchFailed("connect_timeout", f"cannot reach {where}: {last.strerror}")
    raise FetchFailed("connect_error", f"cannot connect to {where}: {last.strerror or last}")


def _reason(exc: BaseException) -> str:
    """'[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)' -> 'wrong version number'."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _Exchange(asyncio.Protocol):
    """Feeds what the connection receives to the parser and resolves `finished` when the answer is complete
    (or, when redirects are followed, as soon as a redirect's head is in: its body is not needed)."""

    def __init__(self, parser: ResponseParser, finished: asyncio.Future, progress: dict[str, Any], timings: dict[str, float]) -> None:
        self.parser, self.finished, self.progress, self.timings = parser, finished, progress, timings
        self.stop_at_redirect = False

    def data_received(self, data: bytes) -> None:
        if self.finished.done():
            return
        parser = self.parser
        had_head = parser.head is not None
        try:
            parser.feed(data)
        except ProtocolError as exc:
            self.finished.set_exception(FetchFailed("http_protocol", f"invalid HTTP answer: {exc}"))
            return
        except Exception as exc:  # a bug of ours reading an odd answer: say so, instead of a misleading protocol error
            self.finished.set_exception(FetchFailed("internal_error", f"internal error reading the answer: {type(exc).__name__}: {exc}"))
            return
        if not had_head and parser.head is not None:
            self.timings["first_byte"] = time.perf_counter()
            self.progress["phase"] = "body"
            if self.stop_at_redirect and parser.head.status in REDIRECTS and parser.head.get("location"):
                self.finished.set_result(None)
                return
        if parser.done:
            self.finished.set_result(None)

    def eof_received(self) -> bool:
        self._ended("")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(_reason(exc) if exc is not None else "")

    def _ended(self, reason: str) -> None:
        if self.finished.done():
            return
        try:
            self.parser.eof(reason)
        except NoAnswer as exc:
            self.finished.set_exception(FetchFailed("http_protocol", str(exc)))
            return
        except ProtocolError as exc:
            self.finished.set_exception(FetchFailed("http_protocol", f"invalid HTTP answer: {exc}"))
            return
        if self.parser.head is not None and "first_byte" not in self.timings:
            self.timings["first_byte"] = time.perf_counter()
        self.finished.set_result(None)
