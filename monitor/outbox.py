"""The relay loop both outboxes share (alerts to notifiers, failover actions to actuators).

Rows are written in the transaction of what caused them; a relay then delivers them. Each round returns when
it is next due (None: only when woken); the loop sleeps until then, or until woken by the commit that added
rows, never longer than IDLE_RECHECK (a safety net for rows nobody wakes it for: written by another process,
or a wall-clock jump that made a computed sleep wrong). A failed round (the database is down) is retried
after ERROR_RETRY.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from monitor.tasks import finish_or_cancel

log = logging.getLogger("monitor.outbox")
IDLE_RECHECK = 60.0
ERROR_RETRY = 1.0


def seconds_until(due: float | None, now: float) -> float:
    """How long to sleep before `due` (None: nothing is scheduled), at most IDLE_RECHECK."""
    return IDLE_RECHECK if due is None else min(IDLE_RECHECK, max(0.0, due - now))


class OutboxLoop:
    """Run `round` again and again, sleeping in between until it is due or woken."""

    def __init__(
        self,
        name: str,
        round: Callable[[], Awaitable[float | None]],
        clock: Callable[[], float],
        *,
        on_error: Callable[[], None] = lambda: None,
        pause_on_error: bool = False,
    ) -> None:
        self.name = name
        self.round = round
        self.clock = clock
        self.on_error = on_error  # e.g. release what the failed round claimed, at the next round
        self.pause_on_error = pause_on_error  # sleep ERROR_RETRY even if woken: a database that is down is not hammered
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        # The rounds run so far, and how long the loop now sleeps unless woken (None: running a round): what it
        # will do next, readable without waiting for it (the tests, and a stuck relay's diagnosis).
        self.rounds = 0
        self.sleeping_for: float | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Let the round in progress finish (at most `grace` seconds), then stop."""
        self._stopping = True
        self._wake.set()
        await finish_or_cancel(self._task, grace)

    async def _run(self) -> None:
        wait = 0.0  # the first round at once: rows due while we were down
        while not self._stopping:
            if wait > 0:
                self.sleeping_for = wait
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                self.sleeping_for = None
            self._wake.clear()  # before the round reads: a wake during it asks for another round
            if self._stopping:
                return
            try:
                self.rounds += 1
                wait = seconds_until(await self.round(), self.clock())
            except Exception:  # the database is down, or a bug: keep the loop, try again next round
                log.exception("%s round failed; trying again", self.name)
                self.on_error()
                if self.pause_on_error:
                    await asyncio.sleep(ERROR_RETRY)
                wait = ERROR_RETRY
