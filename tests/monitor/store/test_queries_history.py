"""The status pages' history queries against real rollups, on SQLite and PostgreSQL: daily_history and
latency_series agree with the raw results however far the rollups got, and incidents page and find their plans."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from types import SimpleNamespace

from sqlalchemy import insert, text

from monitor.core.history import DAY, HOUR, floor_to
from monitor.store.models import FailoverPlanRow, IncidentRow, ProbeResultRow, RollupMarkRow, RollupRow
from monitor.store.queries import (
    Day,
    _daily_statement,
    channel_incidents,
    daily_history,
    incident_page,
    latency_series,
    plans_for_incidents,
)
from monitor.store.rollups import RAW_ID, apply_retention, run_rollups
from tests.support.store import rollup

NOW = 1_793_539_234.5  # 1 November 2026, 12:40:34.5 UTC
TODAY = floor_to(NOW, DAY)
STATES = ["up", "degraded", "down", "maintenance", "unknown"]


def result(at: float, channel: str = "allegro", check: str = "home", state: str = "up", ok: bool = True, duration: float = 0.1) -> dict:
    return {
        "at": at,
        "channel": channel,
        "check": check,
        "kind": "http",
        "ok": ok,
        "error_class": None if ok else "http_status",
        "error": None if ok else "HTTP 503",
        "duration_seconds": duration,
        "facts": "{}",
        "severity": None if ok else "down",
        "channel_state": state,
    }


def store(engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ProbeResultRow), rows)


def random_results(seed: int, n: int, since: float, until: float, channels=("allegro", "amazon")) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ok = rng.random() < 0.8
        rows.append(
            result(
                rng.uniform(since, until),
                rng.choice(channels),
                rng.choice(["home", "dns"]),
                rng.choices(STATES, [70, 8, 15, 4, 3])[0],
                ok,
                round(rng.lognormvariate(-2, 1), 6),
            )
        )
    return rows


def expected_days(raw: list[dict], days: int = 90) -> dict[str, dict[int, list[int]]]:
    first = TODAY - (days - 1) * DAY
    out: dict[str, dict[int, list[int]]] = defaultdict(dict)
    for r in raw:
        d = floor_to(r["at"], DAY)
        if first <= d <= TODAY and r["at"] <= NOW:
            counts = out[r["channel"]].setdefault(d, [0] * 5)
            counts[STATES.index(r["channel_state"])] += 1
    return out


def as_counts(days: list[Day]) -> dict[int, list[int]]:
    return {d.start: [d.n_up, d.n_degraded, d.n_down, d.n_maintenance, d.n_unknown] for d in days if d.results}


def expected_latency(raw: list[dict], channel: str, since: float) -> dict[str, list[tuple]]:
    by: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in raw:
        if r["channel"] == channel and r["ok"] and floor_to(since, HOUR) <= r["at"] <= NOW:
            by[(r["check"], floor_to(r["at"], HOUR))].append(r["duration_seconds"])
    out: dict[str, list[tuple]] = defaultdict(list)
    for (check, hour), ds in sorted(by.items()):
        ds.sort()
        out[check].append((hour, len(ds), round(sum(ds) / len(ds), 6), ds[-(-95 * len(ds) // 100) - 1], ds[-1]))
    return dict(out)


def as_tuples(series) -> dict[str, list[tuple]]:
    return {check: [(p.hour, p.count, round(p.avg, 6), p.p95, p.max) for p in points] for check, points in series.items()}


# ------------------------------------------------------------------------------------------ daily_history


def test_daily_history_reads_channel_totals_and_the_raw_tail(engine):
    with engine.begin() as conn:
        conn.execute(
            insert(RollupRow),
            [
                rollup("day", "allegro", "", TODAY - 2 * DAY, n_up=1430, n_down=10),
                rollup("day", "allegro", "home", TODAY - 2 * DAY, n_up=999),  # a check's row: not read
                rollup("day", "allegro", "", TODAY - DAY, n_up=1000, n_degraded=440),
                rollup("day", "allegro", "", TODAY - 3 * DAY, n_maintenance=60),
                rollup("day", "allegro", "", TODAY, n_up=700),
                rollup("day", "allegro", "", TODAY - 90 * DAY, n_down=5),  # 91 days ago: outside
                rollup("hour", "allegro", "", TODAY - 2 * DAY, n_down=77),  # hourly rows: not read
            ],
        )
        conn.execute(insert(RollupMarkRow), [{"name": RAW_ID, "value": 2}])
    store(
        engine,
        [
            result(NOW - 60, state="down"),
            result(NOW - 50, state="down"),  # ids 1, 2: counted already
            result(NOW - 40, state="down"),
            result(TODAY - 30, state="degraded"),  # the tail
            result(NOW - 20, "ceneo", state="up"),
            result(TODAY + DAY + 5, state="down"),
        ],
    )  # tomorrow: not shown
    history = daily_history(engine, NOW)
    assert set(history) == {"allegro", "ceneo"}
    days = history["allegro"]
    assert len(days) == 90 and [d.start for d in days] == list(range(TODAY - 89 * DAY, TODAY + DAY, DAY))
    today, yesterday, before, three = days[-1], days[-2], days[-3], days[-4]
    assert (today.n_up, today.n_down, today.span) == (700, 1, NOW - TODAY)
    assert (yesterday.n_up, yesterday.n_degraded, yesterday.worst) == (1000, 441, "degraded")
    assert (before.n_up, before.n_down, before.worst) == (1430, 10, "down")
    assert before.uptime == 1430 / 1440 and before.seconds_in(before.n_down) == 600
    assert (three.worst, three.uptime) == ("maintenance", None)
    assert days[0].results == 0 and days[0].worst == "none"
    assert as_counts(history["ceneo"]) == {TODAY: [1, 0, 0, 0, 0]}


def test_daily_history_equals_the_raw_results_however_far_rollups_got(engine):
    raw = random_results(7, 3000, NOW - 95 * DAY, NOW)
    store(engine, raw)
    run_rollups(engine, chunk_rows=700)
    later = random_results(8, 400, NOW - 2 * DAY, NOW)  # not rolled up: read from the tail
    store(engine, later)
    history = daily_history(engine, NOW)
    want = expected_days(raw + later)
    assert {c: as_counts(days) for c, days in history.items()} == want
    assert sum(d.results for days in history.values() for d in days) == sum(map(sum, (v for c in want.values() for v in c.values())))


# ----------------------------------------------------------------------------------------- latency_series


def test_latency_series_from_hourly_rollups_and_raw_results(engine):
    raw = random_results(11, 2500, NOW - 30 * HOUR, NOW - 2 * HOUR)
    store(engine, raw)
    run_rollups(engine)
    tail = random_results(12, 300, NOW - 2 * HOUR, NOW)
    tail.append(result(NOW - 20 * HOUR, "allegro", "home", duration=0.0001))  # a late result, not yet rolled up
    store(engine, tail)
    since = NOW - DAY
    for channel in ("allegro", "amazon"):
        got = as_tuples(latency_series(engine, channel, since, NOW))
        assert got == expected_latency(raw + tail, channel, since)
        assert set(got) == {"dns", "home"} and all(len(points) >= 20 for points in got.values())


def test_latency_series_after_retention_deleted_the_raw_rows(engine):
    raw = random_results(21, 2000, NOW - 26 * HOUR, NOW - 1)
    store(engine, raw)
    run_rollups(engine)
    apply_retention(engine, NOW, SimpleNamespace(raw=3 * HOUR, hourly=90 * DAY, daily=730 * DAY))
    with engine.connect() as conn:
        left = conn.execute(ProbeResultRow.__table__.select()).all()
    assert 0 < len(left) < len(raw)  # hours before the last three come from the hourly rollups alone
    got = as_tuples(latency_series(engine, "amazon", NOW - DAY, NOW))
    assert got == expected_latency(raw, "amazon", NOW - DAY)


def test_latency_series_leaves_out_hours_without_a_success(engine):
    hour = floor_to(NOW, HOUR)
    store(
        engine,
        [
            result(hour - 3 * HOUR + 5, ok=False, state="down", duration=5.0),
            result(hour - 2 * HOUR + 5, duration=0.2),
            result(hour - 2 * HOUR + 6, duration=0.4),
            result(hour + 5, duration=0.3),
        ],
    )
    run_rollups(engine)
    store(engine, [result(hour + 10, duration=0.5)])
    series = latency_series(engine, "allegro", NOW - DAY, NOW)
    assert [(p.hour, p.count, round(p.avg, 6), p.p95, p.max) for p in series["home"]] == [
        (hour - 2 * HOUR, 2, 0.3, 0.4, 0.4),
        (hour, 2, 0.4, 0.5, 0.5),
    ]
    assert latency_series(engine, "nobody", NOW - DAY, NOW) == {}


# -------------------------------------------------------------------------------------------- incidents


def test_incident_pages_channel_incidents_and_the_plans_that_name_them(engine):
    with engine.begin() as conn:
        conn.execute(
            insert(IncidentRow),
            [
                {
                    "channel": "allegro" if i % 3 else "amazon",
                    "started_at": NOW - (130 - i) * HOUR,
                    "ended_at": NOW - (130 - i) * HOUR + 600 if i < 119 else None,
                    "cause": "{}",
                }
                for i in range(120)
            ],
        )
        conn.execute(
            insert(FailoverPlanRow),
            [
                {
                    "at": NOW - 11 * HOUR + 60,
                    "owner_kind": "promotion",
                    "owner": "ads",
                    "mode": "auto",
                    "status": "applied",
                    "reason": json.dumps({"failed": ["allegro"], "incidents": {"allegro": 120}}),
                },
                {
                    "at": NOW - 11 * HOUR + 90,
                    "owner_kind": "notice",
                    "owner": "fb",
                    "mode": "auto",
                    "status": "dry_run",
                    "reason": json.dumps({"failed": ["allegro"], "incidents": {"allegro": 120, "amazon": 3}}),
                },
                {
                    "at": NOW - 11 * HOUR + 100,
                    "owner_kind": "promotion",
                    "owner": "ads",
                    "mode": "auto",
                    "status": "rejected",
                    "reason": "{}",
                },
            ],
        )
    first, total = incident_page(engine, 1, 50)
    assert total == 120 and len(first) == 50 and first[0].id == 120 and first[0].ended_at is None
    assert [i.started_at for i in first] == sorted((i.started_at for i in first), reverse=True)
    last, _ = incident_page(engine, 3, 50)
    assert [i.id for i in last] == list(range(20, 0, -1))
    assert incident_page(engine, 4, 50) == ([], 120)
    assert [i.id for i in channel_incidents(engine, "amazon", 3)] == [118, 115, 112]
    plans = plans_for_incidents(engine, first, NOW)
    assert [(p.id, p.owner_kind, p.owner, p.status) for p in plans[120]] == [
        (1, "promotion", "ads", "applied"),
        (2, "notice", "fb", "dry_run"),
    ]
    assert set(plans) == {120}  # plan 2 also names incident 3, which is not on this page
    assert plans_for_incidents(engine, [], NOW) == {}


def test_daily_history_reads_index_ranges_only(sqlite_engine):
    """One primary-key range per channel on SQLite, never a scan of the rollups (which hold 2 years of days)."""
    with sqlite_engine.connect() as conn:
        plan = [
            row[3]
            for row in conn.execute(
                text("EXPLAIN QUERY PLAN " + _daily_statement("sqlite")), {"first": TODAY - 89 * DAY, "today": TODAY, "end": TODAY + DAY}
            )
        ]
    assert not [step for step in plan if step.startswith("SCAN") and ("rollups" in step or "probe_results" in step)], plan
    assert any("SEARCH r USING PRIMARY KEY (period=? AND channel=? AND check=? AND bucket_start>?" in step for step in plan), plan
