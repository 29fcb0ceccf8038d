"""The probe interface: what every probe kind receives and returns."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

Fact = float | int | str | bool | None

# The closed set of reasons a check can fail. Metrics, alerts and the status page key on these,
# so a new one is added here (with a line in the README) rather than invented inside a probe.
ERROR_CLASSES: dict[str, str] = {
    "dns_nxdomain": "the name does not exist (NXDOMAIN)",
    "dns_servfail": "DNS resolvers failed to answer (SERVFAIL)",
    "dns_timeout": "DNS lookup timed out",
    "dns_error": "DNS lookup failed",
    "connect_refused": "connection refused",
    "connect_timeout": "connection timed out",
    "connect_error": "connection failed",
    "tls_expired": "TLS certificate expired",
    "tls_invalid": "TLS certificate or handshake invalid",
    "http_status": "unexpected HTTP status",
    "http_protocol": "the server's answer is not valid HTTP",
    "content_mismatch": "the page content is not what was expected",
    "too_slow": "the response took longer than allowed",
    "body_too_large": "the response body is larger than allowed",
    "timeout": "no complete answer before the check's timeout",
    "blocked_destination": "the target address is not allowed",
    "internal_error": "the monitor itself failed running the check",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe run saw. A failure of the target is data (ok=False), never an exception."""

    ok: bool
    error_class: str | None = None
    error: str | None = None
    facts: Mapping[str, Fact] = field(default_factory=dict)

    @classmethod
    def fail(cls, error_class: str, error: str, **facts: Fact) -> ProbeResult:
        """Build a failed result; error_class must be one of ERROR_CLASSES."""
        assert error_class in ERROR_CLASSES, error_class
        return cls(ok=False, error_class=error_class, error=error, facts=facts)


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """Shared resources handed to a probe by the runner."""

    http: aiohttp.ClientSession
    log: logging.Logger | logging.LoggerAdapter
    timeout_seconds: float  # enforced by the runner; informative for the probe
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
