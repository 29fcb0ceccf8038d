"""The rollup rows of a range of buckets, computed in SQL: hourly rows from raw results, daily rows from hourly
rows, and each channel's total row (see monitor/store/rollups.py for when they are computed and written)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, cast, func, select
from sqlalchemy.engine import Connection

from monitor.core.history import DAY, HOUR
from monitor.store.models import ProbeResultRow, RollupRow

STATES = ("up", "degraded", "down", "maintenance")  # any other state is counted as unknown
IN_BATCH = 500  # names per IN (...) list, far under SQLite's and PostgreSQL's parameter limits
TOTAL = ""  # the check of a channel's total row
_STATE_COUNTS = ("n_up", "n_degraded", "n_down", "n_maintenance", "n_unknown")
_COUNTS = (*_STATE_COUNTS, "latency_count")


def _bucket_of(dialect: str, at: Any, size: int) -> Any:
    """SQL for floor(at / size) * size: the start of the bucket holding a time (at >= 0)."""
    if dialect == "sqlite":  # CAST truncates, which is floor for times after 1970
        return cast(at / size, BigInteger) * size
    return cast(func.floor(at / size), BigInteger) * size  # PostgreSQL's CAST would round


def aggregate_raw(conn: Connection, lo: int, hi: int, channels: Iterable[str], last_id: int) -> list[dict]:
    """Hourly rows for the hours in [lo, hi) of these channels, from raw rows with id <= last_id."""
    counts, p95s = _raw_queries(conn.dialect.name)
    rows: dict[tuple[int, str, str], dict] = {}
    for names in batches(channels):
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
    for names in batches(channels):
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


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def batches(names: Iterable[str], size: int = IN_BATCH) -> Iterator[list[str]]:
    names = sorted(names)
    for i in range(0, len(names), size):
        yield names[i : i + size]
