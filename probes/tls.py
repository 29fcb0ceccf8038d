"""TLS probe: handshake with SNI, verify chain and host name, report the certificate's expiry."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import field_validator, model_validator

from monitor.core.durations import Duration
from probes.base import ErrorClass, Fact, FactGauge, ProbeConfig, ProbeContext, ProbeKind, ProbeResult, Samples, number
from probes.tcp import connect_first, resolve_checked, split_host_port

ERRORS = {
    "tls_expired": ErrorClass("TLS certificate expired"),
    "tls_not_yet_valid": ErrorClass("TLS certificate not valid yet"),
    "tls_self_signed": ErrorClass("TLS certificate is self-signed"),
    "tls_wrong_host": ErrorClass("TLS certificate is for another host name"),
    "tls_invalid": ErrorClass("TLS certificate or handshake invalid"),
    "tls_expiring": ErrorClass("TLS certificate expires soon", "degraded"),
}
# OpenSSL X509_V_ERR_* codes with their own error class; every other verify failure is tls_invalid.
_VERIFY_CLASSES = {
    10: "tls_expired",
    9: "tls_not_yet_valid",
    18: "tls_self_signed",
    19: "tls_self_signed",
    62: "tls_wrong_host",
    64: "tls_wrong_host",
}
_CA_HINT = "ca_file is the path of a PEM file with the CA certificates to trust"
_SSL_NOISE = re.compile(r"^\[SSL: [A-Z0-9_]+\] | \(_ssl\.c:\d+\)$")


class Config(ProbeConfig):
    server_name: str | None = None  # SNI and the name the certificate must match; default: the target's host
    ca_file: str | None = None  # trust these CAs instead of the system store (private CAs, tests)
    verify: bool = True  # false: only the handshake must succeed; facts are still reported
    warn_before: Duration = 14 * 86400.0  # a valid certificate expiring sooner is tls_expiring (degraded)

    @field_validator("server_name")
    @classmethod
    def _host_name(cls, value: str) -> str:
        try:
            valid = re.fullmatch(r"[^\s/:@\[\].][^\s/:@\[\]]*", value) and value.encode("idna")
        except UnicodeError:  # what ssl would raise when sending it as SNI
            valid = False
        if not valid:
            raise ValueError(f"{value!r} is not a host name; write the name the certificate is for, e.g. allegro.pl")
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable_bundle(cls, value: str) -> str:
        if not Path(value).is_file():
            raise ValueError(f"{value!r} is not a file; {_CA_HINT}")
        try:
            ssl.create_default_context(cafile=value)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{value!r} holds no usable PEM certificates ({_reason(exc)}); {_CA_HINT}") from None
        return value

    @model_validator(mode="after")
    def _options_need_verify(self) -> Config:
        if self.ca_file and not self.verify:
            raise ValueError("ca_file has no effect with verify: false; remove one of them")
        if "warn_before" in self.model_fields_set and not self.verify:
            raise ValueError("warn_before has no effect with verify: false; use a condition such as '[CERT_EXPIRY] > 14d' instead")
        return self


def check_target(target: str) -> str:
    split_host_port(target, default_port=443)
    return target


async def probe(target: str, config: Config, ctx: ProbeContext) -> ProbeResult:
    """Handshake once, verifying; on a certificate problem handshake again unverified to read it."""
    started = time.perf_counter()
    host, port = split_host_port(target, default_port=443)
    name = config.server_name or host
    context = client_context(config.verify, config.ca_file)  # a ca_file gone since config load: internal_error
    infos = await resolve_checked(host, port, ctx)
    if isinstance(infos, ProbeResult):
        return infos
    try:
        facts = await _handshake(infos, host, port, name, context, ctx)
    except ssl.SSLCertVerificationError as exc:
        # Same address as the failed handshake (ctx.progress), within what is left of the deadline.
        infos = [i for i in infos if i[4][0] == ctx.progress.get("address")] or infos
        facts = {}
        budget = ctx.timeout_seconds - (time.perf_counter() - started) - 0.05
        try:
            async with asyncio.timeout(max(budget, 0)):
                facts = await _handshake(infos, host, port, name, client_context(False, None), ctx)
        except (OSError, ProbeFailed):  # TimeoutError and ssl.SSLError are OSErrors
            pass
        return _verify_failure(exc, name, facts)
    except ProbeFailed as exc:
        return exc.result
    except OSError as exc:  # ssl.SSLError, or the server hanging up mid-handshake
        return ProbeResult.fail("tls_invalid", f"TLS handshake with {host}:{port} failed: {_reason(exc)}")
    if config.verify and "cert_expiry_seconds" in facts and facts["cert_expiry_seconds"] < config.warn_before:
        days = float(facts["cert_expiry_days"] or 0)
        left = f"{days:.1f} days" if days >= 1 else f"{days * 24:.1f} hours"
        return ProbeResult.fail(
            "tls_expiring", f"certificate for {name} expires in {left} ({_date(facts['cert_not_after'])})", severity="degraded", **facts
        )
    return ProbeResult(ok=True, facts=facts)


class ProbeFailed(Exception):
    """DNS, guard or connect failure inside _handshake, carrying its result."""

    def __init__(self, result: ProbeResult) -> None:
        self.result = result


async def _handshake(infos: list[tuple], host: str, port: int, name: str, context: ssl.SSLContext, ctx: ProbeContext) -> dict[str, Fact]:
    """Connect to a checked address, handshake, read the certificate and close the connection."""
    outcome = await connect_first(infos, host, port, ctx)
    if isinstance(outcome, ProbeResult):
        raise ProbeFailed(outcome)
    sock, facts = outcome
    ctx.progress.update(phase="tls", address=facts["address"])
    start = time.perf_counter()
    try:
        _, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname=name)
    except BaseException:
        sock.close()  # already closed when asyncio made a transport; not when it failed before
        raise
    try:
        facts["handshake_seconds"] = round(time.perf_counter() - start, 6)
        tls = writer.get_extra_info("ssl_object")
        facts["tls_version"] = tls.version()
        der = tls.getpeercert(binary_form=True)
    finally:
        writer.close()  # sends close_notify; a peer that never answers it is cut off after 0.5s
        try:
            async with asyncio.timeout(0.5):
                await writer.wait_closed()
        except OSError:
            writer.transport.abort()
    return {**facts, **_cert_facts(der)}


def _cert_facts(der: bytes | None) -> dict[str, Fact]:
    try:
        cert = x509.load_der_x509_certificate(der or b"")
        not_after = cert.not_valid_after_utc.timestamp()
    except ValueError:  # no certificate, or one cryptography cannot parse: no expiry facts
        return {}
    left = not_after - time.time()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san if isinstance(n, x509.DNSName | x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "cert_expiry_seconds": round(left, 3),
        "cert_expiry_days": round(left / 86400, 4),
        "cert_not_after": not_after,
        "cert_not_before": cert.not_valid_before_utc.timestamp(),
        "cert_subject": _cn(cert.subject, names[:1]),
        "cert_issuer": _cn(cert.issuer, []),
        "cert_names": ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else ""),
    }


def _cn(name: x509.Name, fallback: list[str]) -> str:
    """The CN; else the first SAN, the organisation or the whole name (a CN is no longer required)."""
    for oid in (NameOID.COMMON_NAME, None, NameOID.ORGANIZATION_NAME):
        values = fallback if oid is None else [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            return values[0]
    return name.rfc4514_string()


def _verify_failure(exc: ssl.SSLCertVerificationError, name: str, facts: dict[str, Fact]) -> ProbeResult:
    error_class = _VERIFY_CLASSES.get(exc.verify_code, "tls_invalid")
    left = facts.get("cert_expiry_seconds")
    if error_class == "tls_expired" and isinstance(left, float) and left < 0:
        message = f"certificate for {name} expired {-left / 86400:.1f} days ago ({_date(facts['cert_not_after'])})"
    elif error_class == "tls_not_yet_valid" and float(facts.get("cert_not_before") or 0) > time.time():
        message = f"certificate for {name} is not valid before {_date(facts['cert_not_before'])}"
    elif error_class == "tls_wrong_host" and facts.get("cert_names"):
        message = f"certificate is for {facts['cert_names']}, not {name}"
    else:
        message = f"certificate for {name} is not trusted: {exc.verify_message}"
    return ProbeResult.fail(error_class, message, **facts)


@functools.lru_cache(maxsize=32)
def _cached_context(verify: bool, ca_file: str | None, _mtime: int | None) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)  # without ca_file: the system trust store


def client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A shared context per (verify, ca_file), rebuilt when the file changes (CA rotation)."""
    return _cached_context(verify, ca_file, os.stat(ca_file).st_mtime_ns if ca_file else None)


def _reason(exc: OSError) -> str:
    """'[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)' -> 'wrong version number'."""
    text = _SSL_NOISE.sub("", exc.strerror or str(exc))
    return text or ("the server closed the connection" if isinstance(exc, ConnectionError) else type(exc).__name__)


def _date(epoch: Fact) -> str:
    return datetime.fromtimestamp(float(epoch or 0), UTC).date().isoformat()


def _cert_expiry(result: ProbeResult) -> Samples:
    not_after = number(result.facts.get("cert_not_after"))
    if not_after is not None:
        return [((), not_after)]
    return [((), None)] if result.ok else []  # a good answer without a certificate (now plain http): none to expire


# Published by every kind that sees a certificate (this one, and http for https targets).
CERT_EXPIRY = FactGauge(
    "probe_ssl_earliest_cert_expiry", "When the server's (leaf) certificate last seen expires (Unix time)", _cert_expiry
)

KIND = ProbeKind(
    Config,
    probe,
    check_target,
    placeholders={
        "CERT_EXPIRY": "cert_expiry_seconds",
        "CERT_SUBJECT": "cert_subject",
        "CERT_ISSUER": "cert_issuer",
        "TLS_VERSION": "tls_version",
        "HANDSHAKE_TIME": "handshake_seconds",
        "CONNECT_TIME": "connect_seconds",
    },
    error_classes=ERRORS,
    gauges=(CERT_EXPIRY,),
)
