"""The one writer: probe results and state changes go to the database in batched transactions.

Probes only append to an in-memory buffer and never wait on the disk. A flush writes the results
and the transitions of the same period in one transaction, so the stored channel state, its
transition rows and its incidents always agree, even after a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.health import CheckHealth, State, Transition
from monitor.store.bulk import Bulk, insert_many, upsert_many
from monitor.store.db import begin_write
from monitor.store.models import AlertRow, ChannelStateRow, CheckProgressRow, IncidentRow, ProbeResultRow, TransitionRow
from monitor.store.wakeups import OUTBOX, RESULTS, notify

log = logging.getLogger("monitor.store")


class ResultWriter:
    """Buffer rows in memory and write them in batches from a single task."""

    def __init__(
        self,
        engine: Engine,
        *,
        flush_interval: float = 0.5,
        batch_max: int = 5000,
        buffer_max: int = 500_000,
        on_flush: Callable[[int, int], None] | None = None,
        on_alerts: Callable[[], None] = lambda: None,
        on_transitions: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self.batch_max = batch_max
        self.buffer_max = buffer_max
        self.on_flush = on_flush or (lambda written, dropped: None)
        self.on_alerts = on_alerts  # alerts were stored: the router may route them now
        self.on_transitions = on_transitions  # state changes (and incidents) were stored
        self.results: deque[dict[str, Any]] = deque()
        self.transitions: deque[Transition] = deque()
        self.alerts: deque[dict[str, Any]] = deque()  # alert outbox rows (alerts/router.py)
        self.progress: dict[tuple[str, str], dict[str, Any]] = {}
        self.dropped = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._bulk: dict[str, Bulk] = {}  # statements compiled for this engine's dialect

    def add_result(self, row: dict[str, Any]) -> None:
        """Queue one probe result row (a dict of ProbeResultRow's columns)."""
        if len(self.results) >= self.buffer_max:
            # The database has been failing for a long time: shed the oldest raw results, never
            # the transitions, and count what was shed.
            self.results.popleft()
            self.dropped += 1
        self.results.append(row)
        if len(self.results) >= self.batch_max:
            self._wake.set()

    def set_progress(self, channel: str, check: str, progress: CheckHealth, at: float) -> None:
        """Remember a check's latest threshold progress; the next flush stores it (latest wins)."""
        self.progress[(channel, check)] = {
            "channel": channel,
            "check": check,
            "state": progress.state.value,
            "fails": progress.fails,
            "warns": progress.warns,
            "oks": progress.oks,
            "nondown": progress.nondown,
            "updated_at": at,
        }

    def add_transition(self, transition: Transition) -> None:
        """Queue a channel state change; it is written with the results around it."""
        self.transitions.append(transition)
        self._wake.set()

    def add_alert(self, row: dict[str, Any]) -> None:
        """Queue an alert outbox row; it is written in the same transaction as the transition queued with it."""
        self.alerts.append(row)
        self._wake.set()

    @property
    def depth(self) -> int:
        return len(self.results) + len(self.transitions) + len(self.alerts)

    async def run(self) -> None:
        """Flush on a timer or when a batch fills, until cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered so far; keep it buffered if the database fails."""
        async with self._lock:
            while self.results or self.transitions or self.progress or self.alerts:
                results = [self.results.popleft() for _ in range(min(self.batch_max, len(self.results)))]
                transitions = list(self.transitions)
                self.transitions.clear()
                alerts = list(self.alerts)
                self.alerts.clear()
                progress, self.progress = self.progress, {}
                try:
                    await asyncio.to_thread(self._write, results, transitions, list(progress.values()), alerts)
                except SQLAlchemyError as exc:
                    self.results.extendleft(reversed(results))
                    self.transitions.extendleft(reversed(transitions))
                    self.alerts.extendleft(reversed(alerts))
                    self.progress = {**progress, **self.progress}
                    if not self.failing:
                        log.error("database write failed, keeping %d rows to retry: %s", self.depth, exc)
                    self.failing = True
                    self.on_flush(0, self.dropped)
                    return
                if self.failing:
                    log.info("database writes recovered")
                self.failing = False
                self.on_flush(len(results), self.dropped)
                if alerts:
                    self.on_alerts()
                if transitions:
                    self.on_transitions()

    def _write(
        self,
        results: list[dict[str, Any]],
        transitions: list[Transition],
        progress: list[dict[str, Any]],
        alerts: list[dict[str, Any]] = (),
    ) -> None:  # type: ignore[assignment]
        with begin_write(self.engine) as conn:  # BEGIN IMMEDIATE on SQLite
            if results:
                self._statement("results", results[0], insert_many, ProbeResultRow.__table__).run(conn, results)
                notify(conn, RESULTS)  # a decider in another process reads them at once (PostgreSQL only)
            for transition in transitions:
                record_transition(conn, transition)
            if alerts:  # the transactional outbox: an alert is stored exactly when its state change is
                conn.execute(insert(AlertRow), list(alerts))
                notify(conn, OUTBOX)  # relays in other processes look at once
            # In the same transaction as the results that moved them: a restart resumes mid-count.
            if progress:
                self._statement("progress", progress[0], upsert_many, CheckProgressRow.__table__, ("channel", "check")).run(conn, progress)

    def _statement(self, name: str, row: dict[str, Any], build: Callable[..., Bulk], table: Any, *keys: Sequence[str]) -> Bulk:
        """The statement for rows shaped like `row`, compiled on first use (the rows of a kind all have the same keys)."""
        statement = self._bulk.get(name)
        if statement is None or statement.columns != tuple(row):
            statement = self._bulk[name] = build(table, self.engine.dialect, tuple(row), *keys)
        return statement


def record_transition(conn: Connection, t: Transition) -> None:
    """Store a transition, the channel's new state, and open or close its incident."""
    cause = json.dumps(dict(t.cause))
    conn.execute(insert(TransitionRow).values(at=t.at, channel=t.channel, old_state=t.old, new_state=t.new, cause=cause))
    updated = conn.execute(update(ChannelStateRow).where(ChannelStateRow.channel == t.channel).values(state=t.new, since=t.at, cause=cause))
    if updated.rowcount == 0:
        conn.execute(insert(ChannelStateRow).values(channel=t.channel, state=t.new, since=t.at, cause=cause))
    open_incident = IncidentRow.channel == t.channel, IncidentRow.ended_at.is_(None)
    if t.new is State.DOWN:
        # After a maintenance window that began while the channel was down, its incident is still open.
        if conn.execute(select(IncidentRow.id).where(*open_incident)).first() is not None:
            return
        if t.down_since is not None and t.down_since < t.at:
            # Down again soon after recovering (flapping.reopen_within): the same incident goes on.
            reopened = conn.execute(
                update(IncidentRow)
                .where(
                    IncidentRow.channel == t.channel,
                    IncidentRow.started_at >= t.down_since - 0.001,
                    IncidentRow.started_at <= t.down_since + 0.001,
                )
                .values(ended_at=None)
            )
            if reopened.rowcount:
                return
        conn.execute(insert(IncidentRow).values(channel=t.channel, started_at=t.at, cause=cause))
    elif t.new is not State.MAINTENANCE:
        conn.execute(update(IncidentRow).where(*open_incident).values(ended_at=t.at))
