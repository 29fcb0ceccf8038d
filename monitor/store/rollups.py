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

Retention deletes raw rows only when they are counted (id <= raw_id) and older than every row not
yet counted, hourly rows only where their day's row exists; and no run recomputes an hour whose raw rows
retention has begun to delete (a result written more than `retention.raw` late is therefore not counted).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import BigInteger, bindparam, case, cast, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased

from monitor.core.history import DAY, HOUR, floor_to
from monitor.store.db import begin_write
from monitor.store.models import ProbeResultRow, RollupMarkRow, RollupRow
from monitor.store.upsert import upsert as upsert_rows

STATES = ("up", "degraded", "down", "maintenance")  # any other state is counted as unknown
# Mark names (rollup_marks.name).
RAW_ID = "raw_id"  # highest probe_results.id counted in the rollups
RAW_PURGED = "raw_purged_before"  # raw rows before this time may have been deleted
HOURLY_PURGED = "hourly_purged_before"  # hourly rows before this time are deleted
DAILY_PURGED = "daily_purged_before"  # daily rows before this time are deleted
MARKS = (RAW_ID, RAW_PURGED, HOURLY_PURGED, DAILY_PURGED)
CHUNK_ROWS = 100_000  # raw rows per transaction: bounds memory and how long the write lock is held
IN_BATCH = 500  # names per IN (...) list, far under SQLite's and PostgreSQL's parameter limits
KEY = ("period", "channel", "check", "bucket_start")
TOTAL = ""  # the check of a channel's total row


class RetentionTimes(Protocol):
    """How long to keep each kind of row, in seconds (monitor.config.Retention)."""

    raw: float
    hourly: float
    daily: float


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


# ---------------------------------------------------------------------------------------------- rollups


def run_rollups(engine: Engine, *, chunk_rows: int = CHUNK_ROWS, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Count every raw row above the mark into its hourly and daily rows; return how many were counted."""
    counted = 0
    _ensure_marks(engine)
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


def _bucket_of(dialect: str, at: Any, size: int) -> Any:
    """SQL for floor(at / size) * size: the start of the bucket holding a time (at >= 0)."""
    if dialect == "sqlite":  # CAST truncates, which is floor for times after 1970
        return cast(at / size, BigInteger) * size
    return cast(func.floor(at / size), BigInteger) * size  # PostgreSQL's CAST would round


def aggregate_raw(conn: Connection, lo: int, hi: int, channels: Iterable[str], last_id: int) -> list[dict]:
    """Hourly rows for the hours in [lo, hi) of these channels, from raw rows with id <= last_id."""
    counts, p95s = _raw_queries(conn.dialect.name)
    rows: dict[tuple[int, str, str], dict] = {}
    for names in _batches(channels):
        params = {"names": names, "lo": lo, "hi": hi, "last_id": last_id}
        for b, ch, chk, up, degraded, down, maint, unknown, n, total, low, high in conn.execute(counts, params):
            rows[(b, ch, chk)] = {
                "period": "hour",
                "bucket_start": int(b),
                "channel": ch,
                "check": chk,
                "n_up": int(up),
                "n_degraded": int(degraded),
                "n_down": int(down),
                "n_maintenance": int(maint),
                "n_unknown": int(unknown),
                "latency_count": int(n),
                "latency_sum_us": int(total),
                "latency_min": low,
                "latency_max": high,
                "latency_p95": None,
            }
        for b, ch, chk, p95 in conn.execute(p95s, params):
            rows[(b, ch, chk)]["latency_p95"] = p95
    return list(rows.values())


@functools.cache
def _raw_queries(dialect: str) -> tuple[Any, Any]:
    """The two statements of aggregate_raw, built once (building them costs more than running them)."""
    r = ProbeResultRow
    bucket = _bucket_of(dialect, r.at, HOUR).label("bucket")
    where = (
        r.channel.in_(bindparam("names", expanding=True)),
        r.at >= bindparam("lo"),
        r.at < bindparam("hi"),
        r.id <= bindparam("last_id"),
    )
    latency = case((r.ok, r.duration_seconds))  # NULL for failures: not counted below
    micros = cast(func.round(latency * 1_000_000), BigInteger)
    counts = (
        select(
            bucket,
            r.channel,
            r.check,
            *(_count(r.channel_state == s) for s in STATES),
            _count(r.channel_state.not_in(STATES)),
            func.count(latency),
            func.coalesce(func.sum(micros), 0),
            func.min(latency),
            func.max(latency),
        )
        .where(*where)
        .group_by(bucket, r.channel, r.check)
    )
    # Nearest-rank 95th percentile of successful durations: the value at rank ceil(0.95 n) in ascending
    # order, by window functions (SQLite >= 3.25 and PostgreSQL have them); ceil by integer division.
    # Costs a sort of the range's successful results, about as much as reading them.
    part = (bucket, r.channel, r.check)
    ranked = (
        select(
            bucket,
            r.channel,
            r.check,
            r.duration_seconds.label("d"),
            func.row_number().over(partition_by=part, order_by=r.duration_seconds).label("rank"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(*where, r.ok)
        .subquery()
    )
    p95s = select(ranked.c.bucket, ranked.c.channel, ranked.c.check, ranked.c.d).where(ranked.c.rank == (95 * ranked.c.n + 99) // 100)
    return counts, p95s


def with_totals(rows: list[dict]) -> list[dict]:
    """Add each channel's total row (check "") for every bucket: the sum of its checks' counts."""
    totals: dict[tuple, dict] = {}
    for r in rows:
        key = (r["period"], r["channel"], r["bucket_start"])
        total = totals.setdefault(
            key,
            {
                **dict.fromkeys(_COUNTS, 0),
                "period": r["period"],
                "channel": r["channel"],
                "check": TOTAL,
                "bucket_start": r["bucket_start"],
                "latency_count": 0,
                "latency_sum_us": 0,
                "latency_min": None,
                "latency_max": None,
                "latency_p95": None,
            },
        )
        for c in _STATE_COUNTS:
            total[c] += r[c]
    return rows + list(totals.values())


def aggregate_hours(conn: Connection, lo: int, hi: int, channels: Iterable[str], checks: Iterable[str]) -> list[dict]:
    """Daily rows for the days in [lo, hi) of these channels' checks (and totals), from their hourly rows.

    Counts, sums, minimum and maximum are exact; the p95 is the largest hourly p95 of the day.
    """
    rows = []
    for names in _batches(channels):
        params = {"names": names, "checks": sorted(checks), "lo": lo, "hi": hi}
        for d, ch, chk, *values in conn.execute(_hours_query(), params):
            counts = dict(zip(_COUNTS, (int(v) for v in values[: len(_COUNTS)]), strict=True))
            total, low, high, p95 = values[len(_COUNTS) :]
            rows.append(
                {
                    "period": "day",
                    "bucket_start": int(d),
                    "channel": ch,
                    "check": chk,
                    **counts,
                    "latency_sum_us": int(total),
                    "latency_min": low,
                    "latency_max": high,
                    "latency_p95": p95,
                }
            )
    return rows


@functools.cache
def _hours_query() -> Any:
    h = RollupRow
    day = (h.bucket_start // DAY * DAY).label("day")  # integer division on both databases
    return (
        select(
            day,
            h.channel,
            h.check,
            *(func.sum(getattr(h, c)) for c in _COUNTS),
            func.sum(h.latency_sum_us),
            func.min(h.latency_min),
            func.max(h.latency_max),
            func.max(h.latency_p95),
        )
        .where(
            h.period == "hour",
            h.channel.in_(bindparam("names", expanding=True)),
            h.check.in_(bindparam("checks", expanding=True)),
            h.bucket_start >= bindparam("lo"),
            h.bucket_start < bindparam("hi"),
        )
        .group_by(day, h.channel, h.check)
    )


_STATE_COUNTS = ("n_up", "n_degraded", "n_down", "n_maintenance", "n_unknown")
_COUNTS = (*_STATE_COUNTS, "latency_count")


def upsert(conn: Connection, rows: list[dict]) -> None:
    """Insert rollup rows, or overwrite the row with the same key."""
    upsert_rows(conn, RollupRow.__table__, rows, KEY)


# -------------------------------------------------------------------------------------------- retention


def apply_retention(
    engine: Engine, now: float, keep: RetentionTimes, *, should_stop: Callable[[], bool] = lambda: False
) -> tuple[int, int, int]:
    """Delete raw rows, hourly and daily rollups older than they are kept; return the three counts.

    Raw rows go only once counted in the rollups; hourly rows only where their day's row exists.
    Each step is a series of short transactions, so the result writer never waits long.
    """
    _ensure_marks(engine)
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
        _raise_mark(conn, RAW_PURGED, cut)
    deleted = 0
    for names in _batches(channels, 50):  # a short transaction per 50 channels (index seeks on channel, at)
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
    for names in _batches(channels, 50):  # a short transaction per 50 channels
        if should_stop():
            return deleted
        with begin_write(engine) as conn:
            deleted += conn.execute(
                h.__table__.delete().where(h.period == "hour", h.channel.in_(names), h.bucket_start < cut, covered)
            ).rowcount
    with begin_write(engine) as conn:
        _raise_mark(conn, HOURLY_PURGED, cut)
    return deleted


def _delete_daily(engine: Engine, cut: int) -> int:
    with engine.connect() as conn:
        if read_marks(conn)[DAILY_PURGED] >= cut:  # once a day
            return 0
    with begin_write(engine) as conn:
        deleted = conn.execute(RollupRow.__table__.delete().where(RollupRow.period == "day", RollupRow.bucket_start < cut)).rowcount
        _raise_mark(conn, DAILY_PURGED, cut)
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


# ------------------------------------------------------------------------------------------------ marks


def read_marks(conn: Connection) -> dict[str, int]:
    """Every mark, 0 when not yet set."""
    found = dict(conn.execute(select(RollupMarkRow.name, RollupMarkRow.value)).all())
    return {name: int(found.get(name, 0)) for name in MARKS}


def _ensure_marks(engine: Engine) -> None:
    with engine.connect() as conn:
        present = set(conn.execute(select(RollupMarkRow.name)).scalars())
    missing = [{"name": n, "value": 0} for n in MARKS if n not in present]
    if missing:
        with begin_write(engine) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(RollupMarkRow.__table__).on_conflict_do_nothing(index_elements=["name"]), missing)


def _raise_mark(conn: Connection, name: str, value: int) -> None:
    conn.execute(update(RollupMarkRow).where(RollupMarkRow.name == name, RollupMarkRow.value < value).values(value=value))


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _batches(names: Iterable[str], size: int = IN_BATCH) -> Iterator[list[str]]:
    names = sorted(names)
    for i in range(0, len(names), size):
        yield names[i : i + size]


def rollup_rows(conn: Connection, period: str) -> list[dict]:
    """Every rollup row of a period as a dict, in key order (for tests and the benchmark)."""
    query = select(RollupRow.__table__).where(RollupRow.period == period).order_by(*(getattr(RollupRow, k) for k in KEY))
    return [dict(r._mapping) for r in conn.execute(query)]
