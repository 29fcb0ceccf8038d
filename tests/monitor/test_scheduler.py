"""Check scheduling: an early first run, then runs spread over the whole interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.scheduler import FIRST_RUN_SPREAD, PhasedIntervalTrigger, _phase

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def fire_times(trigger: PhasedIntervalTrigger, count: int) -> list[float]:
    times, previous = [], None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, previous or T0)
        times.append((previous - T0).total_seconds())
    return times


def test_first_run_early_then_on_the_checks_own_phase():
    trigger = PhasedIntervalTrigger(seconds=60, start_date=T0 + timedelta(seconds=42), first=T0 + timedelta(seconds=3))
    assert fire_times(trigger, 4) == [3.0, 42.0, 102.0, 162.0]


def test_a_phase_inside_the_first_run_spread_runs_on_its_grid_from_the_start():
    trigger = PhasedIntervalTrigger(seconds=10, start_date=T0 + timedelta(seconds=2), first=T0 + timedelta(seconds=4))
    assert fire_times(trigger, 3) == [2.0, 12.0, 22.0]


def test_two_thousand_checks_spread_over_the_interval_not_its_first_seconds():
    interval = 10.0
    seconds = []
    for i in range(2000):
        key = f"channel-{i // 4}/check-{i % 4}"
        trigger = PhasedIntervalTrigger(
            seconds=interval,
            start_date=T0 + timedelta(seconds=_phase(key, interval)),
            first=T0 + timedelta(seconds=_phase(key, FIRST_RUN_SPREAD)),
        )
        seconds.append(fire_times(trigger, 3)[2] % interval)  # a later run's place in the interval
    per_second = [sum(1 for s in seconds if k <= s < k + 1) for k in range(10)]
    assert min(per_second) > 150 and max(per_second) < 250, per_second  # about 200 in every second


async def test_a_run_cancelled_at_stop_before_it_began_logs_no_error(caplog):
    import asyncio
    import logging

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.scheduler import QuietAsyncIOExecutor

    began = []

    async def run() -> None:
        began.append(1)

    executor = QuietAsyncIOExecutor()
    scheduler = AsyncIOScheduler(timezone=UTC, executors={"default": executor})
    scheduler.start(paused=True)
    job = scheduler.add_job(run, "interval", seconds=60, id="cut-off")
    with caplog.at_level(logging.INFO, logger="apscheduler"):
        executor.submit_job(job, [datetime.now(UTC)])
        executor.shutdown()  # what stopping does: cancels the submitted run before its first step
        await asyncio.sleep(0.05)
    scheduler.shutdown(wait=False)
    assert began == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert executor._instances == {}  # the cancelled run's bookkeeping is done: max_instances stays right


def test_other_errors_of_a_run_are_still_logged(caplog):
    import logging

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.scheduler import QuietAsyncIOExecutor

    executor = QuietAsyncIOExecutor()
    executor.start(AsyncIOScheduler(timezone=UTC), "default")
    executor._instances["job"] = 1
    with caplog.at_level(logging.ERROR, logger="apscheduler"):
        executor._run_job_error("job", RuntimeError("a real bug"))
    assert [r.getMessage() for r in caplog.records] == ["Error running job job"]
    assert executor._instances == {}
