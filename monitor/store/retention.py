"""Retention: delete raw results, hourly and daily rollups older than they are kept.

Retention deletes raw rows only when they are counted (id <= raw_id) and older than every row not
yet counted, hourly rows only where their day's row exists; and no run recomputes an hour whose raw rows
retention has begun to delete (a result written more than `retention.raw` late is therefore not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy import exists, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from monitor.core.history import DAY, HOUR, floor_to
from monitor.store.db import begin_write
from monitor.store.models import ProbeResultRow, RollupMarkRow, RollupRow
from monitor.store.rollup_buckets import batches
from monitor.store.rollup_marks import DAILY_PURGED, HOURLY_PURGED, RAW_ID, RAW_PURGED, ensure_marks, raise_mark, read_marks


class RetentionTimes(Protocol):
    """How long to keep each kind of row, in seconds (monitor.config.Retention)."""

    raw: float
    hourly: float
    daily: float


def apply_retention(
    engine: Engine, now: float, keep: RetentionTimes, *, should_stop: Callable[[], bool] = lambda: False
) -> tuple[int, int, int]:
    """Delete raw rows, hourly and daily rollups older than they are kept; return the three counts.

    Raw rows go only once counted in the rollups; hourly rows only where their day's row exists.
    Each step is a series of short transactions, so the result writer never waits long.
    """
    ensure_marks(engine)
    raw = _delete_raw(engine, floor_to(now - keep.raw, HOUR), should_stop)
    hourly = _delete_hourly(engine, floor_to(now - keep.hourly, DAY), should_stop)
    daily = _delete_daily(engine, floor_to(now - keep.daily, DAY))
    return raw, hourly, daily


def _delete_raw(engine: Engine, cut: int, should_stop: Callable[[], bool]) -> int:
    r = ProbeResultRow
    counted = select(RollupMarkRow.value).where(RollupMarkRow.name == RAW_ID).scalar_subquery()
    with engine.connect() as conn:
        # A row not yet counted holds the line back at its hour, so the hour is still whole when it is.
        oldest = conn.execute(select(func.min(r.at)).where(r.id > counted)).scalar()
        cut = min(cut, floor_to(oldest, HOUR)) if oldest is not None else cut
        channels = list(conn.execute(text(_DISTINCT_CHANNELS.format(table="probe_results", where="1 = 1"))).scalars())
    with begin_write(engine) as conn:
        # Raised before deleting: from now on no run recomputes an hour that may be missing rows.
        raise_mark(conn, RAW_PURGED, cut)
    deleted = 0
    for names in batches(channels, 50):  # a short transaction per 50 channels (index seeks on channel, at)
        if should_stop():
            break
        with begin_write(engine) as conn:
            deleted += conn.execute(r.__table__.delete().where(r.channel.in_(names), r.at < cut, r.id <= counted)).rowcount
    return deleted


def _delete_hourly(engine: Engine, cut: int, should_stop: Callable[[], bool]) -> int:
    h = RollupRow
    with engine.connect() as conn:
        if read_marks(conn)[HOURLY_PURGED] >= cut:  # the cut moves once a day
            return 0
        channels = list(conn.execute(text(_DISTINCT_CHANNELS.format(table="rollups", where="period = 'hour'"))).scalars())
    daily = aliased(RollupRow)
    covered = exists().where(
        daily.period == "day", daily.channel == h.channel, daily.check == h.check, daily.bucket_start == h.bucket_start // DAY * DAY
    )
    deleted = 0
    for names in batches(channels, 50):  # a short transaction per 50 channels
        if should_stop():
            return deleted
        with begin_write(engine) as conn:
            deleted += conn.execute(
                h.__table__.delete().where(h.period == "hour", h.channel.in_(names), h.bucket_start < cut, covered)
            ).rowcount
    with begin_write(engine) as conn:
        raise_mark(conn, HOURLY_PURGED, cut)
    return deleted


def _delete_daily(engine: Engine, cut: int) -> int:
    with engine.connect() as conn:
        if read_marks(conn)[DAILY_PURGED] >= cut:  # once a day
            return 0
    with begin_write(engine) as conn:
        deleted = conn.execute(RollupRow.__table__.delete().where(RollupRow.period == "day", RollupRow.bucket_start < cut)).rowcount
        raise_mark(conn, DAILY_PURGED, cut)
    return deleted


# Every channel of a table, one index seek each (a "loose index scan": neither SQLite nor PostgreSQL
# does that by itself for DISTINCT, and a plain DISTINCT would read every row).
_DISTINCT_CHANNELS = """
WITH RECURSIVE seen(channel) AS (
    SELECT min(channel) FROM {table} WHERE {where}
    UNION ALL
    SELECT (SELECT min(t.channel) FROM {table} t WHERE {where} AND t.channel > seen.channel)
    FROM seen WHERE seen.channel IS NOT NULL
)
SELECT channel FROM seen WHERE channel IS NOT NULL
"""
