"""The probe interface: what every probe kind receives and returns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from probes.guard import ALLOW_NOTHING, NetworkGuard

Fact = float | int | str | bool | None

# The closed set of reasons a check can fail. Metrics, alerts and the status page key on these,
# so a new one is added here (with a line in the README) rather than invented inside a probe.
ERROR_CLASSES: dict[str, str] = {
    "dns_nxdomain": "the name does not exist (NXDOMAIN)",
    "dns_servfail": "DNS resolvers failed to answer (SERVFAIL)",
    "dns_refused": "DNS resolvers refused the query (REFUSED)",
    "dns_no_answer": "the name exists but has no record of the asked type",
    "dns_timeout": "DNS lookup timed out",
    "dns_error": "DNS lookup failed",
    "connect_refused": "connection refused",
    "connect_timeout": "connection timed out",
    "connect_error": "connection failed",
    "tls_expired": "TLS certificate expired",
    "tls_not_yet_valid": "TLS certificate not valid yet",
    "tls_self_signed": "TLS certificate is self-signed",
    "tls_wrong_host": "TLS certificate is for another host name",
    "tls_invalid": "TLS certificate or handshake invalid",
    "tls_expiring": "TLS certificate expires soon",
    "http_status": "unexpected HTTP status",
    "http_protocol": "the server's answer is not valid HTTP",
    "content_mismatch": "the page content is not what was expected",
    "content_type": "the response has an unexpected content type",
    "condition_failed": "a condition on the result did not hold",
    "too_slow": "the response took longer than allowed",
    "body_too_large": "the response body is larger than allowed",
    "timeout": "no complete answer before the check's timeout",
    "vendor_outage": "the vendor's status page reports an outage",
    "vendor_degraded": "the vendor's status page reports degraded service",
    "vendor_maintenance": "the vendor's status page reports maintenance",
    "status_stale": "the vendor's status page could not be read",
    "catalog_invalid": "product tags that catalogs ingest are missing or invalid",
    "blocked_destination": "the target address is not allowed",
    "internal_error": "the monitor itself failed running the check",
}

# What a failed result means for its channel: "down" counts toward the fail threshold; "degraded"
# marks the channel degraded (a certificate expiring, catalog tags broken, a vendor reporting
# trouble); "stale" means the probe learned nothing (a status page that cannot be read) and the
# channel keeps its state.
Severity = Literal["down", "degraded", "stale"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe run saw. A failure of the target is data (ok=False), never an exception."""

    ok: bool
    error_class: str | None = None
    error: str | None = None
    facts: Mapping[str, Fact] = field(default_factory=dict)
    severity: Severity = "down"
    # Values conditions may read but that are not stored (e.g. the parsed JSON body).
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def fail(
        cls, error_class: str, error: str, *, severity: Severity = "down", data: Mapping[str, Any] | None = None, **facts: Fact
    ) -> ProbeResult:
        """Build a failed result; error_class must be one of ERROR_CLASSES."""
        assert error_class in ERROR_CLASSES, error_class
        return cls(ok=False, error_class=error_class, error=error, facts=facts, severity=severity, data=data or {})


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Shared resources handed to a probe by the runner."""

    http: aiohttp.ClientSession  # its connector already applies the guard to every connection
    log: logging.Logger | logging.LoggerAdapter
    timeout_seconds: float  # enforced by the runner; informative for the probe
    guard: NetworkGuard = ALLOW_NOTHING  # probes that open their own sockets check addresses here
    # Scratch space the probe updates as it goes ("phase": "connect", ...), so that when the
    # runner's deadline cuts a probe off it can say which phase timed out.
    progress: dict[str, Any] = field(default_factory=dict)


class ProbeConfig(BaseModel):
    """Base of every probe kind's options; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


C = TypeVar("C", bound=ProbeConfig)
ProbeFn = Callable[[str, C, ProbeContext], Awaitable[ProbeResult]]
TargetCheck = Callable[[str], str]  # validates a target, returns it normalised or raises ValueError


@dataclass(frozen=True, slots=True)
class ProbeKind(Generic[C]):
    """A probe kind: its options model, its run function and how its targets are validated."""

    config: type[C]
    run: ProbeFn[C]
    check_target: TargetCheck
    # Condition placeholders this kind offers, e.g. {"STATUS": "status"}: [STATUS] reads facts["status"]
    # (or data["status"], which may be a function computed on first use).
    placeholders: Mapping[str, str] = field(default_factory=dict)
    # What the runner's deadline cutting this probe off means: for a status page, that we learned nothing.
    timeout_severity: Severity = "down"
