"""The loop watch: stalls of the event loop, and how much of a probe's time they took."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.loop_watch import LoopWatch
from tests.fakes import eventually


def test_stalled_is_the_overlap_of_the_stalls_with_the_span():
    watch = LoopWatch()
    watch.note(10.0, 10.5)
    watch.note(12.0, 13.0)
    assert watch.stalled(9.0, 14.0) == pytest.approx(1.5)
    assert watch.stalled(10.25, 12.5) == pytest.approx(0.75)
    assert watch.stalled(10.5, 12.0) == 0.0  # between the two
    assert watch.stalled(20.0, 30.0) == 0.0


def test_old_stalls_are_forgotten():
    watch = LoopWatch(keep=60.0)
    watch.note(0.0, 1.0)
    watch.note(100.0, 100.2)
    assert list(watch.stalls) == [(100.0, 100.2)]


async def test_a_blocked_loop_is_seen_as_a_stall():
    watch = LoopWatch(every=0.01, stall=0.05)
    watch.start()
    try:
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        time.sleep(0.3)  # noqa: ASYNC251 - the point: the loop is blocked
        await eventually(lambda: watch.stalls)
        assert watch.stalled(start, loop.time()) >= 0.2
    finally:
        await watch.stop()


async def test_a_stall_going_on_counts_before_the_watch_has_seen_it_end():
    watch = LoopWatch(every=0.01, stall=0.05)
    watch.start()
    try:
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        time.sleep(0.3)  # noqa: ASYNC251 - blocked; asked right after, before the watch's timer runs again
        assert watch.stalled(start, loop.time()) >= 0.25
    finally:
        await watch.stop()
