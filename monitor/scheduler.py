"""When each check runs: one timer per check on its own fixed phase, in the event loop's monotonic time.

Each check runs at `phase + k * interval`, its phase a stable hash of its key spread over the whole interval,
anchored to the wall clock (so a restart, or another instance, keeps the same phases). The first run is the
check's first grid point after start: no start-up burst (starting every check in the first seconds and again
at its phase made the first interval carry about three times the steady rate). A check with a long interval
(over EARLY_FIRST_RUN_ABOVE, e.g. an hourly certificate check) would then wait up to that interval for its
first result, so it gets one early run, spread with the other such checks over EARLY_SPREAD_MIN to
EARLY_SPREAD_MAX seconds (at most EARLY_RATE starts per second), then joins its grid.

Overload is the monitor's problem, never the channels': a run is never started late. A run whose time came
more than `late_after` ago (the event loop was busy), whose previous run is still going, or that would exceed
`max_in_flight` probes at once is skipped and reported as missed (on_missed: the overload guard counts them);
the check's next run stays on its grid. A probe's deadline then covers the target's time, not our queueing.

Why not APScheduler for checks: per run it converts datetimes, searches its job store, fires an event and
wraps the run in a task (~0.09 ms of a probe's ~0.9 ms at 200 probes/s), and it cannot skip a late run
without first starting it. It still runs the jobs it suits (maintenance windows' cron rules).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from monitor.check_spec import CheckSpec
from monitor.config import Channel

log = logging.getLogger("monitor.scheduler")

RunCheck = Callable[[Channel, CheckSpec], Awaitable[None]]
Why = Literal["late", "busy", "capacity"]
# late: the loop reached the run too late; busy: the check's previous run is still going; capacity: the
# max_in_flight probes are running already. (The pipeline adds "stalled": a probe that timed out in our
# stalled loop.)
WHY: tuple[Why, ...] = ("late", "busy", "capacity")


EARLY_FIRST_RUN_ABOVE = 60.0  # seconds of interval
EARLY_RATE = 100.0  # early first runs per second at most (a bound on the start-up load they add)
EARLY_SPREAD_MIN, EARLY_SPREAD_MAX = 5.0, 60.0


def early_spread(long_checks: int) -> float:
    """Over how many seconds the early first runs of `long_checks` long-interval checks are spread."""
    return min(EARLY_SPREAD_MAX, max(EARLY_SPREAD_MIN, long_checks / EARLY_RATE))


def phase(key: str, interval: float) -> float:
    """A stable offset in [0, interval) for a check, so load is spread evenly and deterministically."""
    return (zlib.crc32(key.encode()) % 1_000_000) / 1_000_000 * interval


def first_due(key: str, interval: float, wall_now: float, loop_now: float) -> float:
    """The loop time of a check's first run: its next grid point (phase + k * interval in wall time)."""
    wait = (phase(key, interval) - wall_now) % interval
    return loop_now + wait


def next_due(due: float, interval: float, now: float) -> tuple[float, int]:
    """The next grid point after `now` following the run due at `due`, and how many grid points were passed
    over entirely (the loop was stalled for longer than an interval: those runs are missed too)."""
    following = due + interval
    if following > now:
        return following, 0
    passed = math.floor((now - following) / interval) + 1
    return following + passed * interval, passed


@dataclass(slots=True)
class _Job:
    key: str
    channel: Channel
    check: CheckSpec
    run: RunCheck
    due: float  # loop time of the next run
    grid: float | None = None  # after an early first run: the first run on the check's grid
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task | None = None


@dataclass(slots=True)
class _Counts:
    started: int = 0
    missed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WHY, 0))


class CheckScheduler:
    """Starts every check's runs on time, or skips them and says why; checks can be added and removed live."""

    def __init__(
        self,
        jobs: list[tuple[Channel, CheckSpec, RunCheck]],
        *,
        max_in_flight: int = 1000,
        late_after: float = 1.0,
        on_start: Callable[[str, str, float], None] = lambda channel, check, lag: None,
        on_missed: Callable[[str, str, Why], None] = lambda channel, check, why: None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.initial = jobs
        self.max_in_flight = max_in_flight
        self.late_after = late_after
        self.on_start, self.on_missed = on_start, on_missed
        self.wall_clock = wall_clock
        self.jobs: dict[str, _Job] = {}
        self.in_flight = 0
        self.counts = _Counts()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spread = EARLY_SPREAD_MIN

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        """Schedule every check's first run (call inside the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._spread = early_spread(sum(1 for _, check, _ in self.initial if check.interval_seconds > EARLY_FIRST_RUN_ABOVE))
        for channel, check, run in self.initial:
            self.add(channel, check, run)
        log.info("scheduling %d checks (at most %d probes at once)", len(self.jobs), self.max_in_flight)

    def add(self, channel: Channel, check: CheckSpec, run: RunCheck) -> None:
        """Start running a check on its phase (a check with this key already scheduled is replaced)."""
        assert self._loop is not None, "start() first"
        key = f"{channel.id}/{check.id}"
        self.remove(key)
        now, interval = self._loop.time(), check.interval_seconds
        job = _Job(key, channel, check, run, first_due(key, interval, self.wall_clock(), now))
        early = now + phase(key, self._spread)
        if interval > EARLY_FIRST_RUN_ABOVE and early < job.due:
            job.due, job.grid = early, job.due
        job.timer = self._loop.call_at(job.due, self._fire, job)
        self.jobs[key] = job

    def remove(self, key: str) -> None:
        """Stop scheduling a check ("channel/check"); a run in flight finishes on its own."""
        job = self.jobs.pop(key, None)
        if job is not None and job.timer is not None:
            job.timer.cancel()

    def shutdown(self) -> None:
        """Stop starting new runs (runs in flight are the caller's to cancel)."""
        for job in self.jobs.values():
            if job.timer is not None:
                job.timer.cancel()
        self.jobs.clear()
        self._loop = None

    def _fire(self, job: _Job) -> None:
        loop = self._loop
        if loop is None or self.jobs.get(job.key) is not job:
            return  # removed or shut down after the timer was set
        now = loop.time()
        lag = now - job.due
        if job.grid is not None:  # the early first run: the next is the check's first on its grid
            job.due, passed = next_due(job.grid - job.check.interval_seconds, job.check.interval_seconds, now)
            job.grid = None
        else:
            job.due, passed = next_due(job.due, job.check.interval_seconds, now)
        job.timer = loop.call_at(job.due, self._fire, job)
        for _ in range(passed):
            self._miss(job, "late")
        if lag > self.late_after:
            self._miss(job, "late")
        elif job.task is not None:
            self._miss(job, "busy")
        elif self.in_flight >= self.max_in_flight:
            self._miss(job, "capacity")
        else:
            self.in_flight += 1
            self.counts.started += 1
            self.on_start(job.channel.id, job.check.id, lag)
            job.task = loop.create_task(job.run(job.channel, job.check), name=job.key)
            job.task.add_done_callback(lambda task, job=job: self._done(job, task))

    def _done(self, job: _Job, task: asyncio.Task) -> None:
        self.in_flight -= 1
        if job.task is task:
            job.task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("run of %s failed", job.key, exc_info=task.exception())

    def _miss(self, job: _Job, why: Why) -> None:
        self.counts.missed[why] += 1
        self.on_missed(job.channel.id, job.check.id, why)
