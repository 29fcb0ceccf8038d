"""The background loops besides probing: the 1 s tick, rollups and retention, and the /metrics database gauges."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import suppress

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor import db_gauges
from monitor.channels import ChannelBook, Event
from monitor.config import Channel, Retention
from monitor.events import AlertMaker
from monitor.metrics import Metrics
from monitor.reactions import AlertPublisher
from monitor.store.rollups import roll_up_and_retain

log = logging.getLogger("monitor")
UPKEEP_INTERVAL = 300.0  # seconds between runs of rollups and retention
DB_GAUGES_INTERVAL = 60.0  # seconds between readings of uptime, open incidents and applied values for /metrics
DB_GAUGES_UPTIME_AGE = 15.0  # a wake reads uptime too when the last uptime reading is this old (as the pages)
DB_GAUGES_MIN_GAP = 1.0  # at most one such reading a second, however many state changes wake it (a flap storm)


class Tick:
    """Every second: time-driven state changes (maintenance, overrides expiring), failover timers, reminders."""

    def __init__(
        self,
        book: ChannelBook,
        on_events: Callable[[Iterable[Event]], None],
        failover_soon: Callable[[], None],
        maker: AlertMaker,
        publisher: AlertPublisher,
        reminder_every: float | None,
        clock: Callable[[], float],
        every: float = 1.0,
    ) -> None:
        self.book, self.on_events, self.failover_soon = book, on_events, failover_soon
        self.maker, self.publisher, self.reminder_every = maker, publisher, reminder_every
        self.clock, self.every = clock, every
        self._last: float | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._forever(), name="health-tick")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.step()

    def step(self) -> None:
        """One tick at the clock's time: what changed with time alone since the last one."""
        now = self.clock()
        self.on_events(self.book.overload_update(now))
        for channel in self.book.health:
            try:
                self.on_events(self.book.apply_now(channel, now))
            except Exception:  # one channel's bug must not stop maintenance and overrides for all
                log.exception("health tick failed for %s", channel)
        self.failover_soon()  # hold-down and failback timers run out between results
        last, self._last = self._last, now
        if self.reminder_every and last is not None:
            for alert in self.maker.reminders(self.book, now, last, self.reminder_every):
                self.publisher.publish(alert)


class Upkeep:
    """Every UPKEEP_INTERVAL, off the event loop: count new results into rollups, then apply retention.

    A task of its own, not a scheduler job: a run never overlaps the next, never counts as a check's
    scheduling lag, and stop() waits for its current transaction instead of abandoning its thread.
    """

    def __init__(self, engine: Engine, retention: Retention, clock: Callable[[], float]) -> None:
        self.engine, self.retention, self.clock = engine, retention, clock
        self._wake = asyncio.Event()
        self._stopping = False
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._forever(), name="rollups-retention")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self.task:
            await self.task  # it ends after its current transaction; none is cut off

    async def _forever(self) -> None:
        while not self._stopping:
            try:
                done = await asyncio.to_thread(roll_up_and_retain, self.engine, self.clock(), self.retention, lambda: self._stopping)
                log.debug("rollups and retention: %s", done.describe())
            except SQLAlchemyError as exc:  # the database is down: the result writer reports it too
                log.error("rollups and retention failed, trying again in %gs: %s", UPKEEP_INTERVAL, exc)
            except Exception:
                log.exception("rollups and retention crashed, trying again in %gs", UPKEEP_INTERVAL)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), UPKEEP_INTERVAL)


class DatabaseGauges:
    """Keep the database-backed gauges of /metrics fresh: every DB_GAUGES_INTERVAL, and when woken (the writer
    stored a state change, so an incident opened or closed; an action was acknowledged). Uptime, the costly sum
    (about 0.2 s at 1,000 channels), at most every DB_GAUGES_UPTIME_AGE: a flap storm's wakes read the rest."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        channels: dict[str, Channel],
        places: Callable[[], set[tuple[str, str, str]]],
        clock: Callable[[], float],
    ) -> None:
        self.engine, self.metrics, self.channels, self.places, self.clock = engine, metrics, channels, places, clock
        self.wake = asyncio.Event()
        self._stopping = False
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._forever(), name="db-gauges")

    async def stop(self) -> None:
        self._stopping = True
        self.wake.set()
        if self.task:
            await self.task

    async def _forever(self) -> None:
        uptime_at = -math.inf
        while not self._stopping:
            self.wake.clear()  # before reading: a wake during the reading asks for another one
            with_uptime = time.monotonic() - uptime_at >= DB_GAUGES_UPTIME_AGE
            try:
                reading = await asyncio.to_thread(db_gauges.read, self.engine, self.clock(), uptime=with_uptime)
                db_gauges.apply(self.metrics, reading, self.channels, self.places())
            except SQLAlchemyError as exc:  # the database is down: the result writer reports it too
                log.warning("reading uptime for /metrics failed, trying again in %gs: %s", DB_GAUGES_INTERVAL, exc)
            except Exception:
                log.exception("reading uptime for /metrics crashed, trying again in %gs", DB_GAUGES_INTERVAL)
            read_at = time.monotonic()
            if with_uptime:
                uptime_at = read_at
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), DB_GAUGES_INTERVAL)
            gap = read_at + DB_GAUGES_MIN_GAP - time.monotonic()
            if gap > 0 and not self._stopping:
                await asyncio.sleep(gap)
