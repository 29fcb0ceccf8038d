"""A web instance's copy of the decided state (--role web), read from the database every REFRESH seconds.

A web instance decides nothing: the decider writes channel states, incidents, threshold progress, overrides,
windows and failover state; the probers write results. The mirror reads them back into a fresh ChannelBook and
FailoverEngine each refresh (the read model reads whatever is current), plus each check's latest result and its
vote across locations, and which notifiers are failing (from the deliveries being retried).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Engine

from monitor.channels import ChannelBook
from monitor.config import Config
from monitor.decider import StoredResult, sighting
from monitor.failover.engine import FailoverEngine
from monitor.health import Verdict
from monitor.membership import lost_locations
from monitor.quorum import DELIVERY_SLACK, STALE_AFTER_INTERVALS, Sighting, Vote, decide
from monitor.store import alerts as alert_store
from monitor.store import located, probers
from monitor.store.persist import load_check_progress, load_overrides, load_windows
from monitor.store.queries import load_channel_states, load_incident_starts

log = logging.getLogger("monitor.mirror")
REFRESH = 1.0  # seconds between reads: what a web instance shows is at most this much behind the decider
STALE_AFTER = 10.0  # /healthz fails when the last good read is older than this


class Mirror:
    """The decided state as last read; `refresh` (blocking) reads it again."""

    def __init__(
        self, config: Config, engine: Engine, clock: Callable[[], float] = time.time, on_refresh: Callable[[Mirror], None] = lambda m: None
    ) -> None:
        self.config, self.engine, self.clock, self.on_refresh = config, engine, clock, on_refresh
        self.names = {c.id: c.name for c in config.channels}
        self.book = ChannelBook(config, clock())
        self.failover = FailoverEngine(config.failover, engine, self.names)
        self.latest: dict[tuple[str, str], StoredResult] = {}
        self.votes: dict[tuple[str, str], Vote] = {}
        self.failing: dict[str, tuple[float, str | None]] = {}
        self.read_at: float | None = None  # monotonic time of the last good read
        self.specs = {(c.id, k.id): k for c in config.channels for k in c.checks}
        self.longest = max(k.interval_seconds for k in self.specs.values())
        self.task: asyncio.Task | None = None

    def refresh(self) -> None:
        now = self.clock()
        engine = self.engine
        book = ChannelBook(self.config, now)
        book.restore(
            load_channel_states(engine),
            load_incident_starts(engine),
            load_check_progress(engine),
            load_overrides(engine, now),
            load_windows(engine, now),
        )
        failover = FailoverEngine(self.config.failover, engine, self.names)
        failover.load(now, write=False)
        latest: dict[tuple[str, str], StoredResult] = {}
        sightings: dict[tuple[str, str], list] = {}
        for row in located.latest_per_location(engine, now - STALE_AFTER_INTERVALS * self.longest - DELIVERY_SLACK):
            key = (row.channel, row.check)
            if key not in self.specs:
                continue
            sightings.setdefault(key, []).append(sighting(row))
            if key not in latest or latest[key].at <= row.at:
                latest[key] = StoredResult.of(row)
        members = probers.members(engine)
        lost = lost_locations(members, now, self.config.probing.heartbeat_timeout)
        # A location whose probers stopped long ago has no recent result: shown as unknown (it does not vote).
        known = {m.location for m in members}
        for key in self.specs if known else ():
            seen = sightings.setdefault(key, [])
            have = {s.location for s in seen}
            seen += [Sighting(loc, Verdict(False, None, None, "stale"), 0.0) for loc in sorted(known - have)]
        votes = {
            key: decide(seen, now=now, interval=self.specs[key].interval_seconds, quorum=self.specs[key].quorum, lost=lost)
            for key, seen in sightings.items()
            if seen
        }
        self.failing = alert_store.failing_destinations(engine)
        self.book, self.failover, self.latest, self.votes = book, failover, latest, votes
        self.read_at = time.monotonic()
        self.on_refresh(self)

    @property
    def fresh(self) -> bool:
        return self.read_at is not None and time.monotonic() - self.read_at <= STALE_AFTER

    def locations(self, channel: str, check: str) -> Vote | None:
        return self.votes.get((channel, check))

    def problems(self) -> dict[str, str]:
        """As the relays' own (alerts/routing.py problems): that a notifier fails and since when."""
        details = "retrying; details in the log or GET /api/admin/notifiers"
        return {
            name: f"failing since {time.strftime('%H:%M:%S UTC', time.gmtime(since))} ({details})"
            for name, (since, _e) in self.failing.items()
        }

    def problem_details(self) -> Mapping[str, dict]:
        return {
            name: {"failing_since": since, "broken": False, "last_error": error, "handed_to_fallback": False}
            for name, (since, error) in self.failing.items()
        }

    async def start(self) -> None:
        await asyncio.to_thread(self.refresh)
        self.task = asyncio.create_task(self._run(), name="mirror")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:  # the database is away: keep showing the last read (/healthz says so)
                log.warning("web: cannot read the decided state (%s); showing what was read %s", exc, "before")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
