"""Read-side queries for restart, the status page and the API."""

from __future__ import annotations

import functools
import json

from sqlalchemy import case, func, select, text
from sqlalchemy.engine import Engine

from monitor.core.history import (
    DAY,
    HOUR,
    UPTIME_WINDOWS,
    Day,
    IncidentStarts,
    LatencyPoint,
    PlanRef,
    StoredState,
    floor_to,
)
from monitor.store.models import ChannelStateRow, FailoverPlanRow, IncidentRow, ProbeResultRow


def load_channel_states(engine: Engine) -> dict[str, StoredState]:
    """Return every channel's last announced state."""
    with engine.connect() as conn:
        rows = conn.execute(select(ChannelStateRow)).all()
    return {r.channel: StoredState(r.state, r.since, json.loads(r.cause)) for r in rows}


def load_incident_starts(engine: Engine) -> dict[str, IncidentStarts]:
    """Per channel with incidents: the start of the open one, and the start and end of the last closed one."""
    ended = (
        select(IncidentRow.channel, func.max(IncidentRow.ended_at).label("ended_at"))
        .where(IncidentRow.ended_at.is_not(None))
        .group_by(IncidentRow.channel)
        .subquery()
    )
    last_closed = (
        select(IncidentRow.channel, func.max(IncidentRow.started_at), ended.c.ended_at)
        .join(ended, (IncidentRow.channel == ended.c.channel) & (IncidentRow.ended_at == ended.c.ended_at))
        .group_by(IncidentRow.channel, ended.c.ended_at)
    )
    open_ = (
        select(IncidentRow.channel, func.max(IncidentRow.started_at)).where(IncidentRow.ended_at.is_(None)).group_by(IncidentRow.channel)
    )
    with engine.connect() as conn:
        last = {channel: (float(start), float(end)) for channel, start, end in conn.execute(last_closed)}
        opened = {channel: float(start) for channel, start in conn.execute(open_)}
    return {c: IncidentStarts(opened.get(c), last.get(c)) for c in sorted(set(last) | set(opened))}


def uptime_since(engine: Engine, since: float) -> dict[str, float]:
    """Share of good results per channel since a time (0..1); channels with no results are absent."""
    good = func.sum(case((ProbeResultRow.ok, 1), else_=0))
    query = select(ProbeResultRow.channel, good, func.count()).where(ProbeResultRow.at >= since).group_by(ProbeResultRow.channel)
    with engine.connect() as conn:
        return {channel: (ok or 0) / total for channel, ok, total in conn.execute(query) if total}


def open_incidents(engine: Engine) -> list[IncidentRow]:
    """Incidents not yet closed, oldest first."""
    query = select(IncidentRow).where(IncidentRow.ended_at.is_(None)).order_by(IncidentRow.started_at)
    with engine.connect() as conn:
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)]


def find_incidents(engine: Engine, limit: int, channel: str | None = None, open_only: bool = False) -> list[IncidentRow]:
    """The latest incidents (newest first), of one channel or of all, optionally only those still open."""
    query = select(IncidentRow).order_by(IncidentRow.started_at.desc(), IncidentRow.id.desc()).limit(limit)
    if channel is not None:
        query = query.where(IncidentRow.channel == channel)
    if open_only:
        query = query.where(IncidentRow.ended_at.is_(None))
    with engine.connect() as conn:
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)]


def uptime_windows(engine: Engine, now: float, windows: dict[str, int] = UPTIME_WINDOWS) -> dict[str, dict[str, float | None]]:
    """Per channel and window, the share of results that found the channel available (0..1).

    A result counts by the channel state it left: up and degraded are available, down is not;
    maintenance and unknown are left out. A window of W seconds covers [start of this hour - W, now],
    so "24h" is 24 to 25 hours. None for a window without a counted result (a channel without any may
    also be left out).

    One statement, so one consistent snapshot: daily rollups from a midnight near each window's start,
    corrected by the hourly rollups between that midnight and the start (added when the midnight is
    after the start, subtracted when before: at most 12 hours either way), and the raw rows not yet
    rolled up (id above the mark). Daily rows are summed once, in bands between the windows' midnights,
    and only the channels' total rows (check "") are read.
    """
    names = sorted(windows, key=windows.__getitem__)
    sql, params = uptime_statement(now, [windows[n] for n in names])
    result: dict[str, list[list[int]]] = {}
    with engine.connect() as conn:
        for sign, only, k, channel, a, d in conn.execute(text(sql), params):
            counts = result.setdefault(channel, [[0, 0] for _ in names])
            for w in [k] if only else range(k, len(names)):
                counts[w][0] += sign * int(a or 0)
                counts[w][1] += sign * int(d or 0)
    return {channel: {names[w]: (a / (a + d) if a + d else None) for w, (a, d) in enumerate(counts)} for channel, counts in result.items()}


def uptime_statement(now: float, lengths: list[int]) -> tuple[str, dict[str, int]]:
    """The SQL of uptime_windows for windows of these lengths (shortest first), and its parameters.

    Each row: (sign, only, k, channel, available, down): add sign * the counts to window k alone when
    `only`, else to window k and every longer one.
    """
    hour = floor_to(now, HOUR)
    starts = [hour - length for length in lengths]
    # The midnight nearest each start (the later one on a tie), so the hourly correction is short.
    midnights = [floor_to(s + DAY // 2, DAY) for s in starts]
    params: dict[str, int] = {}
    parts = []
    for k, (start, midnight) in enumerate(zip(starts, midnights, strict=True)):
        params |= {f"s{k}": start, f"m{k}": midnight}
        # Days from this window's midnight up to the next shorter window's: they count for this window
        # and every longer one (band k).
        below = f" AND bucket_start < :m{k - 1}" if k else ""
        parts.append(
            f"SELECT 1 AS sign, 0 AS only, {k} AS k, channel, SUM(n_up + n_degraded) AS a, "
            f"SUM(n_down) AS d FROM rollups WHERE period = 'day' AND channel IN (SELECT channel FROM seen) AND {_TOTAL_ROWS} "
            f"AND bucket_start >= :m{k}{below} GROUP BY channel"
        )
        if start != midnight:  # the hours between the start and that midnight, for this window alone
            sign, lo, hi = (1, f":s{k}", f":m{k}") if start < midnight else (-1, f":m{k}", f":s{k}")
            parts.append(
                f"SELECT {sign}, 1, {k}, channel, SUM(n_up + n_degraded), SUM(n_down) FROM rollups "
                f"WHERE period = 'hour' AND channel IN (SELECT channel FROM seen) AND {_TOTAL_ROWS} "
                f"AND bucket_start >= {lo} AND bucket_start < {hi} GROUP BY channel"
            )
    band = " ".join(f"WHEN at >= :s{k} THEN {k}" for k in range(len(lengths)))
    parts.append(
        f"SELECT 1, 0, CASE {band} END AS k, channel, "
        "SUM(CASE WHEN channel_state IN ('up', 'degraded') THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN channel_state = 'down' THEN 1 ELSE 0 END) FROM tail GROUP BY channel, k"
    )
    longest = f":s{len(lengths) - 1}"
    return _SEEN_AND_TAIL.format(longest=longest) + "\nUNION ALL\n".join(parts), params


_TOTAL_ROWS = "\"check\" = ''"  # the channels' total rows (see RollupRow)
# The channels with daily rollups, one index seek each (a loose index scan), and the raw rows not yet
# rolled up, read by primary key. MATERIALIZED keeps SQLite from reading the whole table through its
# (channel, at) index to save a sort (SQLite >= 3.35, PostgreSQL >= 12).
_SEEN_AND_TAIL = """WITH RECURSIVE seen(channel) AS (
    SELECT MIN(channel) FROM rollups WHERE period = 'day'
    UNION ALL
    SELECT (SELECT MIN(r.channel) FROM rollups r WHERE r.period = 'day' AND r.channel > seen.channel)
    FROM seen WHERE seen.channel IS NOT NULL
),
tail AS MATERIALIZED (
    SELECT channel, at, channel_state FROM probe_results
    WHERE id > COALESCE((SELECT value FROM rollup_marks WHERE name = 'raw_id'), 0) AND at >= {longest}
)
"""


# ------------------------------------------------------------------------------------ status page history


def daily_history(engine: Engine, now: float, days: int = 90) -> dict[str, list[Day]]:
    """Each channel's last `days` UTC days (oldest first, today last), one Day for every day.

    One statement: the daily rollups' total rows (check ""), which the rollup job rewrites with every
    hour it counts (so today's row holds what is rolled up so far), plus the raw results not yet rolled
    up (id above the mark), summed by day. Days without any result are Days with zero counts. Channels
    without a result in the period are absent. About 50 ms for 200 channels on SQLite (bench in the
    status page's report); one Day object per stored day row.
    """
    today = floor_to(now, DAY)
    first = today - (days - 1) * DAY
    span_today = max(0.0, now - today)
    blank = [Day(d, span=span_today if d == today else DAY) for d in range(first, today + DAY, DAY)]
    result: dict[str, list[Day]] = {}
    tail: list[tuple] = []
    with engine.connect() as conn:
        for row in conn.execute(text(_daily_statement(engine.dialect.name)), {"first": first, "today": today, "end": today + DAY}):
            if row[0]:  # raw results not yet rolled up: added below
                tail.append(row)
                continue
            channel = row[1]
            history = result.get(channel)
            if history is None:
                history = result[channel] = blank.copy()
            i = (row[2] - first) // DAY
            history[i] = Day(*row[2:], span=blank[i].span)
    for _, channel, start, *counts in tail:
        history = result.get(channel)
        if history is None:
            history = result[channel] = blank.copy()
        i = (int(start) - first) // DAY
        old = history[i]
        history[i] = Day(old.start, *(a + int(b or 0) for a, b in zip(old[1:6], counts, strict=True)), span=old.span)
    return result


@functools.cache
def _daily_statement(dialect: str) -> str:
    day_of = (
        "CAST(at / 86400 AS INTEGER) * 86400" if dialect == "sqlite" else "CAST(FLOOR(at / 86400) AS BIGINT) * 86400"
    )  # PostgreSQL's CAST would round
    states = ", ".join(f"SUM(CASE WHEN channel_state = '{s}' THEN 1 ELSE 0 END)" for s in ("up", "degraded", "down", "maintenance"))
    return (
        _SEEN_AND_TAIL.format(longest=":first")
        # Driven by the channels: one index range per channel (a CROSS JOIN keeps that order on SQLite;
        # PostgreSQL, misjudging a semi-join on `seen`, would compare every row with every channel).
        + "SELECT 0 AS tail, r.channel, r.bucket_start, r.n_up, r.n_degraded, r.n_down, r.n_maintenance, r.n_unknown "
        "FROM seen CROSS JOIN rollups r WHERE seen.channel IS NOT NULL AND r.period = 'day' AND r.channel = seen.channel "
        "AND r.\"check\" = '' AND r.bucket_start >= :first AND r.bucket_start <= :today\nUNION ALL\n"
        f"SELECT 1, channel, {day_of} AS d, {states}, "
        "SUM(CASE WHEN channel_state IN ('up', 'degraded', 'down', 'maintenance') THEN 0 ELSE 1 END) "
        "FROM tail WHERE at < :end GROUP BY channel, d"
    )


def latency_series(engine: Engine, channel: str, since: float, now: float) -> dict[str, list[LatencyPoint]]:
    """Per check of a channel, the response time of its successful results per UTC hour from since's hour to now.

    Hours before the channel's first result not yet rolled up come from the hourly rollups (exact mean,
    exact nearest-rank p95). That hour and later ones are computed from their raw results, all of which
    are still stored: retention keeps every raw row from the hour of the oldest row not yet counted. Hours
    without a successful result have no point. Checks oldest-hour first.
    """
    lo = floor_to(since, HOUR)
    r = ProbeResultRow
    points: dict[str, dict[int, LatencyPoint]] = {}
    with engine.connect() as conn:
        oldest = conn.execute(text(_OLDEST_UNCOUNTED), {"channel": channel}).scalar()
        cut = max(lo, floor_to(oldest, HOUR)) if oldest is not None else floor_to(now, HOUR) + HOUR
        rolled = conn.execute(text(_HOURLY_LATENCY), {"channel": channel, "lo": lo, "cut": cut})
        for check, hour, count, total_us, p95, high in rolled:
            points.setdefault(check, {})[int(hour)] = LatencyPoint(int(hour), int(count), int(total_us) / count / 1e6, p95, high)
        raw: dict[tuple[str, int], list[float]] = {}
        for check, at, duration in conn.execute(
            select(r.check, r.at, r.duration_seconds).where(r.channel == channel, r.at >= cut, r.at <= now, r.ok)
        ):
            raw.setdefault((check, floor_to(at, HOUR)), []).append(duration)
    for (check, hour), durations in raw.items():
        durations.sort()
        n = len(durations)
        points.setdefault(check, {})[hour] = LatencyPoint(hour, n, sum(durations) / n, durations[(95 * n + 99) // 100 - 1], durations[-1])
    return {check: [by_hour[k] for k in sorted(by_hour)] for check, by_hour in sorted(points.items())}


# The oldest of a channel's results not yet rolled up: the raw rows above the mark, read by primary key
# (MATERIALIZED, or SQLite would read all of the channel's rows through its (channel, at) index).
_OLDEST_UNCOUNTED = """WITH tail AS MATERIALIZED (
    SELECT channel, at FROM probe_results
    WHERE id > COALESCE((SELECT value FROM rollup_marks WHERE name = 'raw_id'), 0)
)
SELECT MIN(at) FROM tail WHERE channel = :channel"""
# A channel's hourly rows per check (not the total row) in [lo, cut): its checks found by a loose index
# scan, then one index range per check.
_HOURLY_LATENCY = """WITH RECURSIVE checks(name) AS (
    SELECT MIN("check") FROM rollups WHERE period = 'hour' AND channel = :channel AND "check" > ''
    UNION ALL
    SELECT (SELECT MIN(r."check") FROM rollups r WHERE r.period = 'hour' AND r.channel = :channel AND r."check" > checks.name)
    FROM checks WHERE checks.name IS NOT NULL
)
SELECT "check", bucket_start, latency_count, latency_sum_us, latency_p95, latency_max FROM rollups
WHERE period = 'hour' AND channel = :channel AND "check" IN (SELECT name FROM checks WHERE name IS NOT NULL)
AND bucket_start >= :lo AND bucket_start < :cut AND latency_count > 0"""


# ------------------------------------------------------------------------------------ incident history


def channel_incidents(engine: Engine, channel: str, limit: int = 50) -> list[IncidentRow]:
    """A channel's latest incidents, newest first."""
    return find_incidents(engine, limit, channel)


def incident_page(engine: Engine, page: int, per_page: int = 50) -> tuple[list[IncidentRow], int]:
    """One page of every incident, newest first (page 1 is the newest), and how many there are in all."""
    query = select(IncidentRow).order_by(IncidentRow.started_at.desc(), IncidentRow.id.desc()).offset((page - 1) * per_page).limit(per_page)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(IncidentRow)).scalar_one()
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)], int(total)


def plans_for_incidents(engine: Engine, incidents: list[IncidentRow], now: float) -> dict[int, list[PlanRef]]:
    """The failover plans whose reason names each of these incidents (reason {"incidents": {channel: id}}).

    Reads only the plans made while one of the incidents was open (a plan names open incidents only),
    by the (at) range of the incidents; their reasons are parsed here.
    """
    if not incidents:
        return {}
    wanted = {i.id for i in incidents}
    lo = min(i.started_at for i in incidents)
    hi = max(i.ended_at if i.ended_at is not None else now for i in incidents)
    query = (
        select(
            FailoverPlanRow.id,
            FailoverPlanRow.at,
            FailoverPlanRow.owner_kind,
            FailoverPlanRow.owner,
            FailoverPlanRow.status,
            FailoverPlanRow.reason,
        )
        .where(FailoverPlanRow.at >= lo, FailoverPlanRow.at <= hi)
        .order_by(FailoverPlanRow.id)
    )
    found: dict[int, list[PlanRef]] = {}
    with engine.connect() as conn:
        for plan_id, at, kind, owner, status, reason in conn.execute(query):
            try:
                named = json.loads(reason).get("incidents") or {}
            except (ValueError, AttributeError):
                continue
            for incident_id in named.values() if isinstance(named, dict) else ():
                if incident_id in wanted:
                    found.setdefault(incident_id, []).append(PlanRef(plan_id, at, kind, owner, status))
    return found
