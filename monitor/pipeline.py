"""One straight line per result: probe -> book (health, "is it us?") -> writer -> metrics -> events.

The scheduler calls run_check; nothing here calls back into whoever wired it, except the events sink.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

import aiohttp

from monitor.channels import ChannelBook, Event
from monitor.check_spec import CheckSpec
from monitor.config import Channel, Check
from monitor.health import Verdict
from monitor.loop_watch import LoopWatch
from monitor.metrics import Metrics
from monitor.runner import CheckResult, run_probe
from monitor.store.writer import ResultWriter
from probes.base import ProbeKind, closed_set
from probes.guard import NetworkGuard

log = logging.getLogger("monitor.pipeline")
# A timed failure that spent this share of its time in our stalled loop is ours, not the target's. (One pause
# that drops a few such results does not make the monitor "overloaded": see monitor/overload.py min_seconds.)
STALLED_SHARE = 0.25
# The owner of the "is it us?" control checks: not a sales channel, never shown as one.
CONTROL = Channel(id="monitor-connectivity", name="Monitor connectivity", checks=[Check(kind="control", target="-")])


class Pipeline:
    """Runs checks for the scheduler and records each result once, everywhere it is needed."""

    def __init__(
        self,
        probes: Mapping[str, ProbeKind],
        http: aiohttp.ClientSession,
        guard: NetworkGuard,
        book: ChannelBook,
        writer: ResultWriter,
        metrics: Metrics,
        clock: Callable[[], float],
        on_events: Callable[[Iterable[Event]], None],
        *,
        watch: LoopWatch | None = None,
        on_skipped: Callable[[str, str, str], None] = lambda channel, check, why: None,
        location: str = "local",
        decides: bool = True,
    ) -> None:
        self.probes = probes
        self.http = http
        self.guard = guard
        self.book = book
        self.writer = writer
        self.metrics = metrics
        self.clock = clock
        self.on_events = on_events
        self.watch, self.on_skipped = watch, on_skipped
        self.location = location  # stored with every result: where it was taken
        # False in a prober (--role probe): its book is only its location's own view (for its "is it us?" guard
        # and the results' channel_state); the decider keeps the thresholds' progress, so none is written here.
        self.decides = decides
        self._timed = {name for name, error in closed_set(probes.values()).items() if error.timed}
        self.latest: dict[tuple[str, str], CheckResult] = {}  # (channel, check) -> its last result
        self._inflight: set[asyncio.Task] = set()
        self._stopping = False

    async def run_check(self, channel: Channel, check: CheckSpec) -> None:
        """Probe a channel's check once, then record the result."""
        await self._tracked(self._check(channel, check))

    async def run_control(self, _owner: Channel, check: CheckSpec) -> None:
        """Probe a control target: its results only feed the "is it us?" guard."""
        await self._tracked(self._control(check))

    async def _check(self, channel: Channel, check: CheckSpec) -> None:
        outcome = await self._probe(channel, check)
        if outcome is not None:
            self.record(outcome)

    async def _control(self, check: CheckSpec) -> None:
        outcome = await self._probe(CONTROL, check)
        if outcome is None:
            return
        self.latest[(CONTROL.id, check.id)] = outcome
        self.on_events(self.book.control(check.id, outcome.result.ok, outcome.at))

    async def _probe(self, channel: Channel, check: CheckSpec) -> CheckResult | None:
        """The probe's result, or None when it timed out because our own event loop stalled while it ran (it
        spent more than STALLED_SHARE of its time stalled): that result says nothing about the target, so it
        is counted as a skipped run ("stalled", which the overload guard counts) instead of against the channel."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome = await run_probe(self.probes[check.kind], channel, check, self.http, self.clock, self.guard)
        r = outcome.result
        if not r.ok and r.error_class in self._timed and self.watch is not None:
            end = loop.time()
            if self.watch.stalled(start, end) >= STALLED_SHARE * (end - start):
                self.on_skipped(channel.id, check.id, "stalled")
                return None
        return outcome

    def record(self, outcome: CheckResult) -> None:
        """Feed one result to the book, the writer and the metrics (no I/O here), then hand on its events."""
        r = outcome.result
        self.latest[(outcome.channel, outcome.check)] = outcome
        events = self.book.observe(outcome.channel, outcome.check, Verdict(r.ok, r.error_class, r.error, r.severity), outcome.at)
        health = self.book.health[outcome.channel]
        if self.decides:
            self.writer.set_progress(outcome.channel, outcome.check, health.checks[outcome.check], outcome.at)
        self.writer.add_result(
            {
                "at": outcome.at,
                "channel": outcome.channel,
                "check": outcome.check,
                "kind": outcome.kind,
                "ok": r.ok,
                "error_class": r.error_class,
                "error": r.error,
                "duration_seconds": outcome.duration_seconds,
                # Facts are kept for failures only: they explain an incident, and on every good result they
                # were ~70% of each row (bench: 3.6 GB instead of ~1 GB after 30 days at 1,000 checks/min).
                "facts": json.dumps(dict(r.facts)) if r.facts and not r.ok else "{}",
                "severity": None if r.ok else r.severity,
                "channel_state": health.state.value,
                "location": self.location,
            }
        )
        self.metrics.observe_probe(outcome.channel, outcome.check, outcome.kind, r, outcome.duration_seconds)
        self.metrics.last_cycle.set(self.clock())
        self.on_events(events)

    def stopping(self) -> None:
        """From now on a probe cut off ends quietly (the scheduler's shutdown cancels the running ones)."""
        self._stopping = True

    async def stop(self) -> None:
        """Cut off the probes in flight: a probe stopped by shutdown has no result worth storing."""
        self._stopping = True
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _tracked(self, work: Awaitable[None]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await work
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cut off by shutdown: end quietly instead of letting APScheduler log it as a crash.
        finally:
            self._inflight.discard(task)
