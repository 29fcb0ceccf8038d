"""Read-side queries for restart, the status page and the API."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import case, func, select, text
from sqlalchemy.engine import Engine

from monitor.store.models import ChannelStateRow, IncidentRow, ProbeResultRow
from monitor.store.rollups import DAY, HOUR, floor_to

UPTIME_WINDOWS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}


@dataclass(frozen=True, slots=True)
class StoredState:
    state: str
    since: float
    cause: dict


def load_channel_states(engine: Engine) -> dict[str, StoredState]:
    """Return every channel's last announced state."""
    with engine.connect() as conn:
        rows = conn.execute(select(ChannelStateRow)).all()
    return {r.channel: StoredState(r.state, r.since, json.loads(r.cause)) for r in rows}


def uptime_since(engine: Engine, since: float) -> dict[str, float]:
    """Share of good results per channel since a time (0..1); channels with no results are absent."""
    good = func.sum(case((ProbeResultRow.ok, 1), else_=0))
    query = (select(ProbeResultRow.channel, good, func.count())
             .where(ProbeResultRow.at >= since).group_by(ProbeResultRow.channel))
    with engine.connect() as conn:
        return {channel: (ok or 0) / total for channel, ok, total in conn.execute(query) if total}


def open_incidents(engine: Engine) -> list[IncidentRow]:
    """Incidents not yet closed, oldest first."""
    query = select(IncidentRow).where(IncidentRow.ended_at.is_(None)).order_by(IncidentRow.started_at)
    with engine.connect() as conn:
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)]


def recent_incidents(engine: Engine, limit: int = 20) -> list[IncidentRow]:
    """The latest incidents, newest first."""
    query = select(IncidentRow).order_by(IncidentRow.started_at.desc()).limit(limit)
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
            for w in ([k] if only else range(k, len(names))):
                counts[w][0] += sign * int(a or 0)
                counts[w][1] += sign * int(d or 0)
    return {channel: {names[w]: (a / (a + d) if a + d else None) for w, (a, d) in enumerate(counts)}
            for channel, counts in result.items()}


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
        parts.append(f"SELECT 1 AS sign, 0 AS only, {k} AS k, channel, SUM(n_up + n_degraded) AS a, "
                     f"SUM(n_down) AS d FROM rollups WHERE period = 'day' AND channel IN (SELECT channel FROM seen) AND {_TOTAL_ROWS} "
                     f"AND bucket_start >= :m{k}{below} GROUP BY channel")
        if start != midnight:  # the hours between the start and that midnight, for this window alone
            sign, lo, hi = (1, f":s{k}", f":m{k}") if start < midnight else (-1, f":m{k}", f":s{k}")
            parts.append(f"SELECT {sign}, 1, {k}, channel, SUM(n_up + n_degraded), SUM(n_down) FROM rollups "
                         f"WHERE period = 'hour' AND channel IN (SELECT channel FROM seen) AND {_TOTAL_ROWS} "
                         f"AND bucket_start >= {lo} AND bucket_start < {hi} GROUP BY channel")
    band = " ".join(f"WHEN at >= :s{k} THEN {k}" for k in range(len(lengths)))
    parts.append(f"SELECT 1, 0, CASE {band} END AS k, channel, "
                 "SUM(CASE WHEN channel_state IN ('up', 'degraded') THEN 1 ELSE 0 END), "
                 "SUM(CASE WHEN channel_state = 'down' THEN 1 ELSE 0 END) FROM tail GROUP BY channel, k")
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
