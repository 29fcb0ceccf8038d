"""The decider's input (--role decide): every location's results, read from the database, one verdict per round.

The probers write results; the decider reads the new ones every POLL seconds (in id order, with the gaps a
concurrent insert may leave: monitor/tail.py), updates each check's sighting per location and hands the book the
verdicts of the rounds they close (monitor/votes.py). Which locations may vote comes from the probers' heartbeats
(a location whose prober's own network is in doubt does not). On taking over, it starts from the newest result and
seeds each location's latest sighting, so votes are whole at once and no result is counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from monitor.health import Verdict
from monitor.membership import live_locations, lost_locations
from monitor.quorum import DELIVERY_SLACK, STALE_AFTER_INTERVALS, Sighting
from monitor.store import located, probers
from monitor.tail import Tail
from monitor.votes import Observation, Votes

log = logging.getLogger("monitor.decider")
POLL = 1.0  # seconds between reads when nothing woke it (probers NOTIFY when they write: see monitor/store/wakeups.py)
BATCH = 10_000  # rows per read; a full batch is followed at once by the next
MEMBERS_EVERY = 1.0  # seconds between reads of the probers' heartbeats (reads of results come with every NOTIFY)


def sighting(row) -> Sighting:
    return Sighting(row.location, Verdict(row.ok, row.error_class, row.error, row.severity or "down"), row.at)


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    ok: bool
    severity: str
    error_class: str | None
    error: str | None
    facts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A check's latest result as read back from the database (what the pages show as its last run)."""

    kind: str
    at: float
    duration_seconds: float
    result: StoredOutcome
    location: str
    conditions: tuple = ()  # not stored: a prober's page would show them

    @classmethod
    def of(cls, row) -> StoredResult:
        facts = json.loads(row.facts) if row.facts and row.facts != "{}" else {}
        outcome = StoredOutcome(row.ok, row.severity or "down", row.error_class, row.error, facts)
        return cls(row.kind, row.at, row.duration_seconds, outcome, row.location)


class Decider:
    """Reads results and turns them into the book's verdicts."""

    def __init__(
        self,
        engine: Engine,
        votes: Votes,
        judge: Callable[[Observation], None],
        clock: Callable[[], float],
        *,
        longest_interval: float,
        heartbeat_timeout: float,
        on_read: Callable[[float], None] = lambda age: None,
    ) -> None:
        self.engine, self.votes, self.judge, self.clock = engine, votes, judge, clock
        self.longest_interval, self.heartbeat_timeout = longest_interval, heartbeat_timeout
        self.on_read = on_read  # each result's age when counted (the decision lag metric)
        self.tail = Tail()
        self.latest: dict[tuple[str, str], StoredResult] = {}  # (channel, check) -> its newest result, any location
        self.lost: frozenset[str] = frozenset()
        self.live: frozenset[str] = frozenset()
        self._members_at: float | None = None
        self.task: asyncio.Task | None = None
        self.woken = asyncio.Event()
        self.read_rows = 0  # counted for /metrics and the bench

    def seed(self) -> None:
        """Start after the newest result, with each location's latest sighting (blocking)."""
        self.tail.after = located.newest_id(self.engine)
        since = self.clock() - STALE_AFTER_INTERVALS * self.longest_interval - DELIVERY_SLACK
        for row in located.latest_per_location(self.engine, since):
            self.votes.seed(row.channel, row.check, sighting(row))
            self._keep(row)
        self._members()

    def _members(self) -> None:
        members, now = probers.members(self.engine), self.clock()
        self._members_at = now
        self.lost = lost_locations(members, now, self.heartbeat_timeout)
        self.live = live_locations(members, now, self.heartbeat_timeout)

    def read(self) -> list:
        """The next batch of results, and which locations may not vote now (blocking)."""
        rows = located.new_results(self.engine, self.tail.after, self.tail.ranges(), BATCH)
        if self._members_at is None or self.clock() - self._members_at >= MEMBERS_EVERY:
            self._members()
        return rows

    def apply(self, rows: list) -> int:
        """Count the rows into the votes and judge every round they (or the clock) closed; verdicts judged."""
        now = self.clock()
        judged = 0
        for row in rows:
            self.on_read(now - row.at)
            self._keep(row)
            observation = self.votes.add(row.channel, row.check, sighting(row), now, self.lost, self.live)
            if observation is not None:
                self.judge(observation)
                judged += 1
        for observation in self.votes.due(now, self.lost):
            self.judge(observation)
            judged += 1
        self.tail.saw((row.id for row in rows), now)
        self.read_rows += len(rows)
        return judged

    def _keep(self, row) -> None:
        key = (row.channel, row.check)
        kept = self.latest.get(key)
        if kept is None or kept.at <= row.at:
            self.latest[key] = StoredResult.of(row)

    async def start(self) -> None:
        await asyncio.to_thread(self.seed)
        self.task = asyncio.create_task(self._run(), name="decider")

    def wake(self) -> None:
        """New results were written (a prober's NOTIFY): read them now."""
        self.woken.set()

    async def _run(self) -> None:
        while True:
            self.woken.clear()
            try:
                rows = await asyncio.to_thread(self.read)
            except Exception as exc:
                log.warning("decider: cannot read results (%s); trying again", exc)
                rows = []
            self.apply(rows)
            if len(rows) < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.woken.wait(), POLL)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
