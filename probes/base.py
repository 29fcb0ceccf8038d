"""The probe interface: what every probe kind receives and returns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict

from probes.guard import ALLOW_NOTHING, NetworkGuard

Fact = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """One reason a check can fail: its meaning in plain words (alerts use it as the common cause of many
    channels), and what it does to the channel, as the docs state it."""

    meaning: str
    severity: str = "down"
    # A failure of waiting (a timeout, a slow answer): the monitor's own stalled event loop causes it too, so one
    # taken while the loop stalled says nothing about the target (monitor/pipeline.py drops it).
    timed: bool = False


# The reasons any kind can fail with: the runner's own (the deadline, a condition, a bug) and the resolve and
# connect steps every kind that reaches a host shares. Each kind declares the rest in its own file
# (ProbeKind.error_classes); probes.ERROR_CLASSES is the closed set of them all.
SHARED_ERRORS: dict[str, ErrorClass] = {
    "dns_nxdomain": ErrorClass("the name does not exist (NXDOMAIN)"),
    "dns_no_answer": ErrorClass("the name exists but has no record of the asked type"),
    "dns_timeout": ErrorClass("DNS lookup timed out", timed=True),
    "dns_error": ErrorClass("DNS lookup failed"),
    "connect_refused": ErrorClass("connection refused"),
    "connect_timeout": ErrorClass("connection timed out", timed=True),
    "connect_error": ErrorClass("connection failed"),
    "blocked_destination": ErrorClass("the target address is not allowed"),
    "timeout": ErrorClass("no complete answer before the check's timeout", "down (stale for a `statuspage` check)", timed=True),
    "condition_failed": ErrorClass("a condition on the result did not hold"),
    "internal_error": ErrorClass("the monitor itself failed running the check"),
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
        """Build a failed result; error_class is a shared one or one of the kind's own (the runner checks)."""
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
# A gauge's samples from one result: (values of its own labels, value); None removes that series.
Samples = Iterable[tuple[tuple[str, ...], float | None]]


@dataclass(frozen=True, slots=True)
class FactGauge:
    """A gauge a kind publishes from each of its results (blackbox_exporter's name where there is one),
    labelled by channel, check and kind, then by its own `labels`. A series not sampled keeps its value."""

    name: str
    help: str
    samples: Callable[[ProbeResult], Samples]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeKind(Generic[C]):
    """A probe kind: its options model, its run function, how its targets are validated, the error classes it
    fails with beyond the shared ones, and the gauges it publishes from its results' facts."""

    config: type[C]
    run: ProbeFn[C]
    check_target: TargetCheck
    # Condition placeholders this kind offers, e.g. {"STATUS": "status"}: [STATUS] reads facts["status"]
    # (or data["status"], which may be a function computed on first use).
    placeholders: Mapping[str, str] = field(default_factory=dict)
    # What the runner's deadline cutting this probe off means: for a status page, that we learned nothing.
    timeout_severity: Severity = "down"
    error_classes: Mapping[str, ErrorClass] = field(default_factory=dict)
    gauges: tuple[FactGauge, ...] = ()
    # The status page shows a channel's latency as the duration of its first check of such a kind (a page
    # answering), else of its first check that ran.
    latency: bool = False

    def fails_with(self, error_class: str | None) -> bool:
        """Whether a failed result of this kind may carry this error class."""
        return error_class in SHARED_ERRORS or error_class in self.error_classes


def closed_set(kinds: Iterable[ProbeKind]) -> dict[str, ErrorClass]:
    """Every error class a check can fail with: the shared ones, then each kind's own."""
    found = dict(SHARED_ERRORS)
    for kind in kinds:
        for name, error_class in kind.error_classes.items():
            if found.setdefault(name, error_class) != error_class:
                raise ValueError(f"error class {name!r} is declared twice with different meanings")
    return found


def number(value: object) -> float | None:
    """A fact as a number (a bool is not one), else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
