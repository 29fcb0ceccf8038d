"""How late the event loop runs: a timer every `every` seconds, and the recent stretches it ran late (stalls).

A probe that timed out while the loop stalled (the monitor busy with other work, a long garbage collection,
the host starved of CPU) lost its time to us, not to the target: the pipeline asks `stalled()` before it
counts such a result against a channel.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress

EVERY = 0.05  # how often the timer runs (20 wake-ups a second: nothing next to the probes)
STALL = 0.05  # a timer this much later than asked is a stall
KEEP = 120.0  # seconds of stalls remembered (longer than any check's timeout)


class LoopWatch:
    def __init__(self, every: float = EVERY, stall: float = STALL, keep: float = KEEP) -> None:
        self.every, self.stall, self.keep = every, stall, keep
        self.stalls: deque[tuple[float, float]] = deque()  # (start, end) in loop time, oldest first
        self._task: asyncio.Task | None = None
        self._asked: float | None = None  # when the watch's own timer is due: overdue by now = a stall going on

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def stalled(self, start: float, end: float) -> float:
        """Seconds of [start, end] (loop time) the loop spent stalled, the stall going on at `end` included (the
        probe that timed out at the end of a stall may be looked at before the watch's own timer has run)."""
        total = 0.0
        for a, b in reversed(self.stalls):  # newest first: a probe only ever asks about the last few seconds
            if b <= start:
                break
            if a < end:
                total += min(end, b) - max(start, a)
        asked = self._asked
        if asked is not None and end - asked > self.stall and (not self.stalls or self.stalls[-1][1] <= asked):
            total += max(0.0, end - max(start, asked))
        return total

    def note(self, start: float, end: float) -> None:
        """Remember a stall from start to end (loop time); forget those older than `keep`."""
        self.stalls.append((start, end))
        while self.stalls and self.stalls[0][1] < end - self.keep:
            self.stalls.popleft()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = self._asked = loop.time() + self.every
            await asyncio.sleep(self.every)
            now = loop.time()
            if now - asked > self.stall:
                self.note(asked, now)
