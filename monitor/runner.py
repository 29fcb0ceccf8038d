"""One probe run: the probe under the check's deadline, then its conditions; every outcome a CheckResult."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import aiohttp

from monitor.check_spec import CheckSpec
from monitor.conditions import ConditionResult, evaluate_all
from monitor.config import Channel
from probes.base import ProbeContext, ProbeKind, ProbeResult
from probes.guard import ALLOW_NOTHING, NetworkGuard

log = logging.getLogger("monitor.runner")
# A timeout in these phases means the target never accepted us, which the alert should say.
_PHASE_TIMEOUTS = {"dns": "dns_timeout", "connect": "connect_timeout"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A probe result with where and when it ran."""

    channel: str
    check: str
    kind: str
    at: float
    duration_seconds: float
    result: ProbeResult
    conditions: tuple[ConditionResult, ...] = ()

    def as_json(self) -> dict:
        """The stable shape printed by `probe-once --json`."""
        r = self.result
        return {
            "channel": self.channel,
            "check": self.check,
            "kind": self.kind,
            "ok": r.ok,
            "error_class": r.error_class,
            "error": r.error,
            "duration_seconds": round(self.duration_seconds, 6),
            "facts": dict(r.facts),
            # Keys added after the first release go last, so scripts reading by position keep working.
            "severity": None if r.ok else r.severity,
            "conditions": [c.as_json() for c in self.conditions],
        }


async def run_probe(
    kind: ProbeKind,
    channel: Channel,
    check: CheckSpec,
    http: aiohttp.ClientSession,
    clock: Callable[[], float],
    guard: NetworkGuard = ALLOW_NOTHING,
) -> CheckResult:
    """Run one probe under the check's deadline; every outcome becomes a CheckResult."""
    ctx = ProbeContext(http=http, log=log, timeout_seconds=check.timeout_seconds, guard=guard)
    at, start = clock(), time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout_seconds):
            result = await kind.run(check.target, check.options, ctx)
        assert result.ok or kind.fails_with(result.error_class), result.error_class  # the kind's closed set
    except TimeoutError:
        phase = ctx.progress.get("phase", "")
        result = ProbeResult.fail(
            _PHASE_TIMEOUTS.get(phase, "timeout"),
            f"no complete answer within {check.timeout_seconds:g}s" + (f" ({phase} phase)" if phase else ""),
            severity=kind.timeout_severity,
        )
    except Exception as exc:  # a bug in a probe must not stop the others
        log.exception("probe %s/%s crashed", channel.id, check.id)
        result = ProbeResult.fail("internal_error", f"internal error: {type(exc).__name__}: {exc}")
    conditions: list[ConditionResult] = []
    if result.ok and check.conditions:
        conditions = evaluate_all(check.conditions, result.facts, result.data, kind.placeholders)
        failed = [c for c in conditions if not c.ok]
        if failed:
            result = ProbeResult.fail("condition_failed", "; ".join(c.describe() for c in failed), **result.facts)
    if result.data:
        # data (a page body, its text, parsed JSON) only serves conditions; kept in Runner.latest it
        # would hold up to max_body_bytes per check in memory (bench: 526 MB with 100 KiB pages).
        result = replace(result, data={})
    return CheckResult(channel.id, check.id, check.kind, at, time.perf_counter() - start, result, tuple(conditions))
