"""Hourly and daily rollups of probe results, and the retention that deletes what they replace.

Progress is a mark on raw ids: ``raw_id`` is the highest probe_results.id already counted in the
rollups. A run takes the rows above it in chunks; for every (channel, hour) a new row falls in, it
recomputes that hour from all of its raw rows up to the chunk's last id, then the days of those hours
from their hourly rows, and moves the mark, all in one transaction. So at every moment

    rollups (raw rows with id <= raw_id)  +  raw rows with id > raw_id  =  every result,

which lets queries.uptime_windows be exact and fresh without waiting for an hour to close. A bucket's
row is a pure function of its raw rows (written with upserts on its primary key), so a re-run, or a run
after an interrupted one, writes the same numbers. The mark moves by compare-and-set, so two runs at
once (a second instance) cannot move it backwards.

This relies on ids growing in commit order, which holds with one result writer per database (the
service has exactly one; see store/writer.py).

Retention (monitor/store/retention.py) deletes only what the rollups have counted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from monitor.core.history import DAY, HOUR, floor_to
from monitor.store.db import begin_write
from monitor.store.models import ProbeResultRow, RollupMarkRow, RollupRow
from monitor.store.retention import RetentionTimes, apply_retention
from monitor.store.rollup_buckets import STATES, TOTAL, aggregate_hours, aggregate_raw, with_totals
from monitor.store.rollup_marks import MARKS, RAW_ID, RAW_PURGED, ensure_marks, read_marks
from monitor.store.upsert import upsert as upsert_rows

CHUNK_ROWS = 100_000  # raw rows per transaction: bounds memory and how long the write lock is held
KEY = ("period", "channel", "check", "bucket_start")

__all__ = [
    "CHUNK_ROWS",
    "KEY",
    "MARKS",
    "RAW_ID",
    "STATES",
    "TOTAL",
    "RetentionTimes",
    "Upkeep",
    "apply_retention",
    "read_marks",
    "roll_up_and_retain",
    "rollup_rows",
    "run_rollups",
    "upsert",
]


@dataclass(frozen=True, slots=True)
class Upkeep:
    """What one run of rollups and retention did."""

    counted: int = 0  # raw rows newly counted in the rollups
    raw_deleted: int = 0
    hourly_deleted: int = 0
    daily_deleted: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"counted {self.counted} results in rollups, deleted {self.raw_deleted} raw results, "
            f"{self.hourly_deleted} hourly and {self.daily_deleted} daily rollups in {self.seconds:.2f}s"
        )


def roll_up_and_retain(engine: Engine, now: float, keep: RetentionTimes, should_stop: Callable[[], bool] = lambda: False) -> Upkeep:
    """The scheduled job: count new results into rollups, then delete what retention allows."""
    started = time.perf_counter()
    counted = run_rollups(engine, should_stop=should_stop)
    if should_stop():
        return Upkeep(counted, seconds=time.perf_counter() - started)
    raw, hourly, daily = apply_retention(engine, now, keep, should_stop=should_stop)
    return Upkeep(counted, raw, hourly, daily, time.perf_counter() - started)


def run_rollups(engine: Engine, *, chunk_rows: int = CHUNK_ROWS, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Count every raw row above the mark into its hourly and daily rows; return how many were counted."""
    counted = 0
    ensure_marks(engine)
    while not should_stop():
        with engine.connect() as conn:
            marks = read_marks(conn)
            start = marks[RAW_ID]
            last = conn.execute(select(func.max(ProbeResultRow.id))).scalar() or 0
            if last <= start:
                break
            end = min(last, start + chunk_rows)
            new = conn.execute(
                select(ProbeResultRow.channel, ProbeResultRow.check, ProbeResultRow.at).where(
                    ProbeResultRow.id > start, ProbeResultRow.id <= end
                )
            ).all()
            hours: dict[int, set[str]] = defaultdict(set)
            checks = {TOTAL}
            for channel, check, at in new:
                hours[floor_to(at, HOUR)].add(channel)
                checks.add(check)
            # An hour whose raw rows retention has begun deleting keeps the row it has: recomputing it
            # from what is left would lose results. (Only a result written days late lands there.)
            hours = {h: cs for h, cs in hours.items() if h >= marks[RAW_PURGED]}
            hourly = with_totals([r for lo, hi, cs in _runs(hours, HOUR) for r in aggregate_raw(conn, lo, hi, cs, end)])
        days: dict[int, set[str]] = defaultdict(set)
        for h, cs in hours.items():
            days[floor_to(h, DAY)] |= cs
        try:
            with begin_write(engine) as conn:
                moved = conn.execute(
                    update(RollupMarkRow).where(RollupMarkRow.name == RAW_ID, RollupMarkRow.value == start).values(value=end)
                )
                if moved.rowcount != 1:
                    raise _Overtaken  # another run counted this chunk first: roll back, go on from its mark
                upsert(conn, hourly)
                upsert(conn, [r for lo, hi, cs in _runs(days, DAY) for r in aggregate_hours(conn, lo, hi, cs, checks)])
        except _Overtaken:
            continue
        counted += len(new)
    return counted


class _Overtaken(Exception):
    pass


def _runs(buckets: dict[int, set[str]], size: int) -> list[tuple[int, int, set[str]]]:
    """Consecutive buckets merged into ranges [lo, hi), each with the union of their channels.

    Recomputing a (channel, bucket) that got no new row rewrites the same numbers, so one query per
    range (usually one per run) is cheaper than one per bucket.
    """
    runs: list[tuple[int, int, set[str]]] = []
    for bucket in sorted(buckets):
        if runs and runs[-1][1] == bucket:
            runs[-1] = (runs[-1][0], bucket + size, runs[-1][2] | buckets[bucket])
        else:
            runs.append((bucket, bucket + size, set(buckets[bucket])))
    return runs


def upsert(conn: Connection, rows: list[dict]) -> None:
    """Insert rollup rows, or overwrite the row with the same key."""
    upsert_rows(conn, RollupRow.__table__, rows, KEY)


def rollup_rows(conn: Connection, period: str) -> list[dict]:
    """Every rollup row of a period as a dict, in key order (for tests and the benchmark)."""
    query = select(RollupRow.__table__).where(RollupRow.period == period).order_by(*(getattr(RollupRow, k) for k in KEY))
    return [dict(r._mapping) for r in conn.execute(query)]
