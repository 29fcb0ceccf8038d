"""One probe cycle: the only glue between probe, health, store and metrics."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp

from monitor.conditions import ConditionResult, evaluate_all
from monitor.config import Channel, Check
from monitor.health import ChannelHealth, Context, FlapEvent, Transition, Verdict
from monitor.metrics import Metrics
from monitor.store.writer import ResultWriter
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
        return {"channel": self.channel, "check": self.check, "kind": self.kind, "ok": r.ok,
                "error_class": r.error_class, "error": r.error,
                "duration_seconds": round(self.duration_seconds, 6), "facts": dict(r.facts),
                # Keys added after the first release go last, so scripts reading by position keep working.
                "severity": None if r.ok else r.severity,
                "conditions": [c.as_json() for c in self.conditions]}


async def run_probe(kind: ProbeKind, channel: Channel, check: Check, http: aiohttp.ClientSession,
                    clock: Callable[[], float], guard: NetworkGuard = ALLOW_NOTHING) -> CheckResult:
    """Run one probe under the check's deadline; every outcome becomes a CheckResult."""
    ctx = ProbeContext(http=http, log=log, timeout_seconds=check.timeout_seconds, guard=guard)
    at, start = clock(), time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout_seconds):
            result = await kind.run(check.target, check.options, ctx)
    except TimeoutError:
        phase = ctx.progress.get("phase", "")
        result = ProbeResult.fail(_PHASE_TIMEOUTS.get(phase, "timeout"),
                                  f"no complete answer within {check.timeout_seconds:g}s" + (f" ({phase} phase)" if phase else ""),
                                  severity=kind.timeout_severity)
    except Exception as exc:  # a bug in a probe must not stop the others
        log.exception("probe %s/%s crashed", channel.id, check.id)
        result = ProbeResult.fail("internal_error", f"internal error: {type(exc).__name__}: {exc}")
    conditions: list[ConditionResult] = []
    if result.ok and check.parsed_conditions:
        conditions = evaluate_all(check.parsed_conditions, result.facts, result.data, kind.placeholders)
        failed = [c for c in conditions if not c.ok]
        if failed:
            result = ProbeResult.fail("condition_failed", "; ".join(c.describe() for c in failed), **result.facts)
    if result.data:
        # data (a page body, its text, parsed JSON) only serves conditions; kept in Runner.latest it
        # would hold up to max_body_bytes per check in memory (bench: 526 MB with 100 KiB pages).
        result = replace(result, data={})
    return CheckResult(channel.id, check.id or check.kind, check.kind, at, time.perf_counter() - start, result,
                       tuple(conditions))


class Runner:
    """Runs checks on behalf of the scheduler and feeds health, storage and metrics."""

    def __init__(self, probes: Mapping[str, ProbeKind], http: aiohttp.ClientSession,
                 health: dict[str, ChannelHealth], writer: ResultWriter, metrics: Metrics,
                 clock: Callable[[], float], on_event: Callable[[Transition | FlapEvent], None],
                 guard: NetworkGuard = ALLOW_NOTHING,
                 context: Callable[[str, float], Context] = lambda channel, now: Context(),
                 on_result: Callable[..., None] = lambda *args, **kwargs: None) -> None:
        self.probes = probes
        self.http = http
        self.health = health
        self.writer = writer
        self.metrics = metrics
        self.clock = clock
        self.on_event = on_event
        self.guard = guard
        self.context = context
        self.on_result = on_result
        self.latest: dict[tuple[str, str], CheckResult] = {}

    async def run_check(self, channel: Channel, check: Check) -> None:
        """Probe once, then record the result everywhere it is needed."""
        outcome = await run_probe(self.probes[check.kind], channel, check, self.http, self.clock, self.guard)
        self.record(outcome)

    def record(self, outcome: CheckResult) -> None:
        """Feed one result to health, the writer and the metrics (no I/O here)."""
        r = outcome.result
        self.latest[(outcome.channel, outcome.check)] = outcome
        health = self.health[outcome.channel]
        ctx = self.context(outcome.channel, outcome.at)
        verdict = health.effective(outcome.check, Verdict(r.ok, r.error_class, r.error, r.severity))
        # "Is it us?" is judged on the latest results, before thresholds; a channel in maintenance or
        # under an override says nothing about the monitor's network.
        steered = ctx.maintenance is not None or (ctx.override is not None and ctx.override.active_at(outcome.at))
        self.on_result(outcome.channel, outcome.check, not verdict.healthy and verdict.severity == "down",
                       health.rules.down_when or len(self.health[outcome.channel].checks) or 1, steered, outcome.at)
        events = health.observe(outcome.check, verdict, outcome.at, ctx)
        self.writer.set_progress(outcome.channel, outcome.check, health.checks[outcome.check], outcome.at)
        self.writer.add_result({
            "at": outcome.at, "channel": outcome.channel, "check": outcome.check, "kind": outcome.kind,
            "ok": r.ok, "error_class": r.error_class, "error": r.error,
            "duration_seconds": outcome.duration_seconds,
            # Facts are kept for failures only: they explain an incident, and on every good result they
            # were ~70% of each row (bench: 3.6 GB instead of ~1 GB after 30 days at 1,000 checks/min).
            "facts": json.dumps(dict(r.facts)) if r.facts and not r.ok else "{}",
            "severity": None if r.ok else r.severity, "channel_state": health.state.value,
        })
        self.metrics.observe_probe(outcome.channel, outcome.check, outcome.kind, r, outcome.duration_seconds)
        self.metrics.last_cycle.set(self.clock())
        for event in events:
            self.on_event(event)
