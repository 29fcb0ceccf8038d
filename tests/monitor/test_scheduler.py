"""Check scheduling: each check on its own phase from the first run, late runs skipped (never started late),
in-flight probes capped, checks added and removed while running."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.check_spec import CheckSpec
from monitor.config import Channel, Check
from monitor.scheduler import EARLY_SPREAD_MIN, CheckScheduler, early_spread, first_due, next_due, phase
from probes.base import ProbeConfig
from tests.fakes import eventually


def spec(check_id: str, interval: float) -> CheckSpec:
    return CheckSpec(check_id, "http", "http://shop.test/", interval, interval, ProbeConfig())


def channel(cid: str) -> Channel:
    return Channel(id=cid, name=cid, checks=[Check(kind="http", target="http://shop.test/")])


def test_two_thousand_checks_start_spread_over_their_interval_with_no_burst():
    interval, wall, loop_now = 10.0, 1_700_000_003.25, 500.0
    firsts = [first_due(f"channel-{i // 4}/check-{i % 4}", interval, wall, loop_now) - loop_now for i in range(2000)]
    assert all(0 <= f < interval for f in firsts)
    per_second = [sum(1 for f in firsts if k <= f < k + 1) for k in range(10)]
    assert min(per_second) > 150 and max(per_second) < 250, per_second  # about 200 in every second, the first too


def test_the_phase_is_anchored_to_the_wall_clock_so_a_restart_keeps_it():
    key, interval = "allegro/home", 60.0
    before = first_due(key, interval, wall_now=1_700_000_000.0, loop_now=10.0) - 10.0
    # Restarted 7 minutes and 13 s later, on a new loop: the run lands on the same wall-clock grid.
    after = first_due(key, interval, wall_now=1_700_000_433.0, loop_now=99.0) - 99.0
    assert (1_700_000_000.0 + before) % interval == pytest.approx((1_700_000_433.0 + after) % interval)
    assert (1_700_000_000.0 + before) % interval == pytest.approx(phase(key, interval))


def test_next_due_stays_on_the_grid_and_counts_the_runs_a_stall_passed_over():
    assert next_due(100.0, 10.0, now=100.2) == (110.0, 0)
    assert next_due(100.0, 10.0, now=109.9) == (110.0, 0)
    assert next_due(100.0, 10.0, now=110.0) == (120.0, 1)  # the run due at 110 was passed over
    assert next_due(100.0, 10.0, now=135.0) == (140.0, 3)  # 110, 120 and 130


async def test_a_run_the_loop_reaches_late_is_skipped_not_started_late():
    started, missed = [], []
    scheduler = CheckScheduler(
        [(channel("shop"), spec("home", 0.2), lambda ch, ck: asyncio.sleep(0))],
        late_after=0.1,
        on_start=lambda ch, ck, lag: started.append(lag),
        on_missed=lambda ch, ck, why: missed.append(why),
    )
    scheduler.start()
    try:
        await eventually(lambda: len(started) >= 2)
        time.sleep(0.5)  # noqa: ASYNC251 - the point: the event loop is busy (CPU-bound), runs come and go
        await eventually(lambda: len(started) >= 4)
    finally:
        scheduler.shutdown()
    assert "late" in missed and set(missed) == {"late"}
    assert max(started) <= 0.1  # every run that started, started within late_after of its time
    assert scheduler.counts.missed["late"] == len(missed) >= 2


async def test_a_check_whose_previous_run_is_still_going_skips_a_run():
    release = asyncio.Event()
    runs, missed = [], []

    async def slow(ch, ck):
        runs.append(1)
        await release.wait()

    scheduler = CheckScheduler([(channel("shop"), spec("home", 0.05), slow)], on_missed=lambda ch, ck, why: missed.append(why))
    scheduler.start()
    try:
        await eventually(lambda: len(missed) >= 2)
        assert runs == [1] and set(missed) == {"busy"}  # one run at a time per check
        release.set()
        await eventually(lambda: len(runs) >= 2)
    finally:
        scheduler.shutdown()


async def test_at_most_max_in_flight_probes_run_and_the_rest_are_skipped_as_capacity():
    release = asyncio.Event()
    running, missed = [], []

    async def hold(ch, ck):
        running.append(ck.id)
        await release.wait()

    jobs = [(channel("shop"), spec(f"c{i}", 0.1), hold) for i in range(10)]
    scheduler = CheckScheduler(jobs, max_in_flight=3, on_missed=lambda ch, ck, why: missed.append(why))
    scheduler.start()
    try:
        await eventually(lambda: missed.count("capacity") >= 7)
        assert len(running) == 3 and scheduler.in_flight == 3
        release.set()
        await eventually(lambda: scheduler.in_flight == 0 or len(running) > 3)
    finally:
        scheduler.shutdown()


async def test_checks_are_added_and_removed_while_running():
    runs: list[str] = []

    async def run(ch, ck):
        runs.append(ck.id)

    scheduler = CheckScheduler([(channel("shop"), spec("home", 0.05), run)])
    scheduler.start()
    try:
        scheduler.add(channel("shop"), spec("cart", 0.05), run)
        await eventually(lambda: "cart" in runs and "home" in runs)
        scheduler.remove("shop/home")
        await asyncio.sleep(0)  # a run already started may still record
        seen = runs.count("home")
        await eventually(lambda: runs.count("cart") >= 4)
        assert runs.count("home") == seen and set(scheduler.jobs) == {"shop/cart"}
    finally:
        scheduler.shutdown()
    assert not scheduler.running and scheduler.jobs == {}


async def test_a_run_that_raises_is_logged_and_the_check_keeps_running(caplog):
    runs: list[int] = []

    async def broken(ch, ck):
        runs.append(1)
        raise KeyError("bug")

    scheduler = CheckScheduler([(channel("shop"), spec("home", 0.05), broken)])
    scheduler.start()
    try:
        await eventually(lambda: len(runs) >= 3)
    finally:
        scheduler.shutdown()
    assert "run of shop/home failed" in caplog.text and "KeyError" in caplog.text


async def test_a_long_interval_check_gets_an_early_first_run_then_runs_on_its_grid(monkeypatch):
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def run(ch, ck):
        runs.append(loop.time())

    wall = 1_700_000_000.0
    scheduler = CheckScheduler([(channel("shop"), spec("cert", 3600.0), run)], wall_clock=lambda: wall)
    start = loop.time()
    scheduler.start()
    try:
        await eventually(lambda: runs, timeout=EARLY_SPREAD_MIN + 2)
        job = scheduler.jobs["shop/cert"]
        assert runs[0] - start < EARLY_SPREAD_MIN + 0.5  # within seconds, not within the hour
        # ... and its next run is its own phase point of the hour, not an hour after the early run.
        assert job.grid is None
        assert (wall + (job.due - start)) % 3600.0 == pytest.approx(phase("shop/cert", 3600.0), abs=0.01)
    finally:
        scheduler.shutdown()


def test_early_first_runs_are_spread_wider_when_there_are_many():
    assert early_spread(10) == EARLY_SPREAD_MIN
    assert early_spread(3000) == 30.0  # at most EARLY_RATE (100) a second
    assert early_spread(100_000) == 60.0
