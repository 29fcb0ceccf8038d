"""The overload guard: skipped runs (not one blip) make the monitor overloaded; quiet for clear_after ends it."""

from __future__ import annotations

from monitor.overload import OverloadGuard


def feed(guard: OverloadGuard, at: float, started: int, missed: int, why: str = "late") -> list[bool]:
    for _ in range(started):
        guard.started(at)
    return [change for _ in range(missed) if (change := guard.missed(at, why)) is not None]


def test_one_pause_that_skips_many_runs_at_once_is_not_overload():
    guard = OverloadGuard()
    assert feed(guard, 100.2, 50, 8, "stalled") == [] and not guard.overloaded  # one stall, one second
    assert feed(guard, 101.5, 50, 1) == [] and not guard.overloaded  # a second second
    assert feed(guard, 102.5, 50, 1) == [True]  # skipping goes on in a third second: overloaded


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
    feed(guard, 98.0, 100, 1, "capacity")
    feed(guard, 99.0, 0, 1, "capacity")
    feed(guard, 100.0, 0, 3, "capacity")
    feed(guard, 100.5, 0, 3, "late")
    assert guard.overloaded and "(5 capacity, 3 late)" in guard.reason
    assert guard.update(120.0) is None and guard.overloaded  # 19.5 s since the last skipped run
    assert guard.update(131.0) is False
    assert not guard.overloaded and guard.reason == ""
    assert feed(guard, 132.0, 100, 1) == []  # a new blip after it ended is noise again


def test_skipping_continues_it():
    guard = OverloadGuard(clear_after=30.0)
    feed(guard, 98.0, 100, 1)
    feed(guard, 99.0, 0, 1)
    feed(guard, 100.0, 0, 3)
    feed(guard, 125.0, 100, 1)  # still skipping
    assert guard.update(140.0) is None and guard.overloaded
    assert guard.update(155.5) is False


def test_the_book_ignores_failures_while_overloaded_and_counts_them_again_after():
    from monitor.channels import ChannelBook, OverloadChange
    from monitor.config import parse_config
    from monitor.health import Verdict

    config = parse_config(
        "defaults: {fail_threshold: 2, recover_threshold: 1}\n"
        "channels: [{id: shop, name: Shop, checks: [{kind: http, id: home, target: 'https://shop.example/'}]}]"
    )
    book = ChannelBook(config, 0.0)
    fail = Verdict(False, "timeout", "no answer in 5s")
    book.observe("shop", "home", Verdict(True), 1.0)
    for _ in range(10):
        book.run_started(2.0)
    events = [e for at in (2.0, 3.0, 4.0) for e in book.run_missed(at, "late")]  # skipping in three seconds
    assert [type(e) for e in events] == [OverloadChange] and events[0].overloaded and book.frozen
    assert book.observe("shop", "home", fail, 5.0) == [] and book.observe("shop", "home", fail, 6.0) == []
    assert book.health["shop"].state.value == "up"
    [ended] = book.overload_update(40.0)  # 36 s without a skipped run
    assert isinstance(ended, OverloadChange) and not ended.overloaded and not book.frozen
    book.observe("shop", "home", fail, 41.0)
    assert [t.new.value for t in book.observe("shop", "home", fail, 42.0)] == ["down"]  # counted again
