"""The overload guard: skipped runs (not one blip) make the monitor overloaded; quiet for clear_after ends it."""

from __future__ import annotations

from monitor.overload import OverloadGuard


def feed(guard: OverloadGuard, at: float, started: int, missed: int, why: str = "late") -> list[bool]:
    for _ in range(started):
        guard.started(at)
    return [change for _ in range(missed) if (change := guard.missed(at, why)) is not None]


def test_one_skipped_run_is_noise_a_steady_share_is_overload():
    guard = OverloadGuard()
    assert feed(guard, 100.0, 500, 1) == [] and not guard.overloaded  # a GC pause
    assert feed(guard, 101.0, 500, 1) == [] and not guard.overloaded  # 2 of 1002
    assert feed(guard, 102.0, 500, 20) == [True]
    assert guard.overloaded and guard.since == 102.0
    assert guard.reason.startswith("22 of 1522 runs in the last 10 s could not start on time (22 late)")


def test_a_small_share_of_a_large_load_is_not_overload():
    guard = OverloadGuard()
    assert feed(guard, 100.0, 5000, 10) == []  # 0.2 % of the runs
    assert not guard.overloaded


def test_old_misses_leave_the_window():
    guard = OverloadGuard()
    feed(guard, 100.0, 10, 2)
    assert feed(guard, 115.0, 10, 2) == []  # the first two are out of the 10 s window: 2 < min_missed
    assert not guard.overloaded


def test_it_ends_after_clear_after_with_nothing_skipped_and_says_why_meanwhile():
    guard = OverloadGuard(clear_after=30.0)
    feed(guard, 100.0, 100, 5, "capacity")
    feed(guard, 100.5, 0, 3, "late")
    assert guard.overloaded and "(5 capacity, 3 late)" in guard.reason
    assert guard.update(120.0) is None and guard.overloaded  # 19.5 s since the last skipped run
    assert guard.update(131.0) is False
    assert not guard.overloaded and guard.reason == ""
    assert feed(guard, 132.0, 100, 1) == []  # a new blip after it ended is noise again


def test_skipping_continues_it():
    guard = OverloadGuard(clear_after=30.0)
    feed(guard, 100.0, 100, 5)
    feed(guard, 125.0, 100, 1)  # still skipping
    assert guard.update(140.0) is None and guard.overloaded
    assert guard.update(155.5) is False
