"""APScheduler 3 drives the checks: one interval job per check, spread over its interval."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.check_spec import CheckSpec
from monitor.config import Channel
from monitor.metrics import Metrics

# The first run of every check lands within this many seconds of start, so a new user sees
# results at once; later runs keep each check's own phase, spread over its whole interval.
FIRST_RUN_SPREAD = 5.0

RunCheck = Callable[[Channel, CheckSpec], Awaitable[None]]


class PhasedIntervalTrigger(IntervalTrigger):
    """An interval trigger with an early first run, then the runs of its own phase.

    APScheduler's IntervalTrigger counts each run from the previous one, so a first run pulled
    forward (to show results at once) would drag every later run with it, bunching all checks into
    the first seconds of each interval. Here the first run is at `first`; from then on the runs fall
    on start_date + k * interval, each check at its own phase.
    """

    def __init__(self, *, first: datetime, **kwargs) -> None:
        super().__init__(**kwargs)
        self.first = min(first, self.start_date)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None:
            return self.first
        if previous_fire_time < self.start_date:
            return self.start_date
        return super().get_next_fire_time(previous_fire_time, now)


class QuietAsyncIOExecutor(AsyncIOExecutor):
    """APScheduler's asyncio executor, minus the traceback for runs that shutdown cancels before they start.

    At stop, the executor cancels every run it has submitted; a run that had not begun yet ends with
    CancelledError, which APScheduler logs as "Error running job" with a traceback. Stopping is not an
    error: such a run is counted as finished (no events) without a log line. Other errors log as before.
    """

    def _run_job_error(self, job_id, exc, traceback=None):
        if isinstance(exc, asyncio.CancelledError):
            return self._run_job_success(job_id, [])  # the instance bookkeeping, and nothing else
        return super()._run_job_error(job_id, exc, traceback)


def _phase(key: str, span: float) -> float:
    """A stable offset in [0, span) for a check, so load is spread evenly and deterministically."""
    return (zlib.crc32(key.encode()) % 1_000_000) / 1_000_000 * span


class CheckScheduler:
    """Owns the APScheduler instance and measures how late each run starts."""

    def __init__(self, jobs: list[tuple[Channel, CheckSpec, RunCheck]], metrics: Metrics, *, jitter: float = 0.0) -> None:
        self.jobs = jobs
        self.metrics = metrics
        self.jitter = jitter
        self.scheduler = AsyncIOScheduler(timezone=UTC, executors={"default": QuietAsyncIOExecutor()})
        self._due: dict[str, float] = {}
        self.scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        """Add one job per check and start the scheduler."""
        now = datetime.now(UTC)
        for channel, check, run in self.jobs:
            job_id = f"{channel.id}/{check.id}"
            interval = check.interval_seconds
            trigger = PhasedIntervalTrigger(
                seconds=interval,
                start_date=now + timedelta(seconds=_phase(job_id, interval)),
                jitter=self.jitter or None,
                first=now + timedelta(seconds=_phase(job_id, min(FIRST_RUN_SPREAD, interval))),
            )
            self.scheduler.add_job(
                self._job,
                trigger,
                args=(job_id, channel, check, run),
                id=job_id,
                name=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval / 2)),
            )
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop starting new runs (runs in flight are the caller's to cancel)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return self.scheduler.running

    async def _job(self, job_id: str, channel: Channel, check: CheckSpec, run: RunCheck) -> None:
        due = self._due.pop(job_id, None)
        if due is not None:
            self.metrics.scheduler_lag.observe(max(0.0, datetime.now(UTC).timestamp() - due))
        await run(channel, check)

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            # Submitted before the coroutine's first step: the start in _job measures event-loop
            # delay on top of the scheduler's own lateness.
            self._due[event.job_id] = event.scheduled_run_times[-1].timestamp()
        else:
            channel, _, check = event.job_id.partition("/")
            self.metrics.missed_runs.inc((channel, check))
