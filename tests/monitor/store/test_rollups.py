"""Rollups, retention and uptime: the rollups agree with the raw results, re-runs change nothing,
retention deletes only what is rolled up, and uptime is the share of available results."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select, text, update

import monitor.loops
from monitor.app import create_app
from monitor.config import Retention, parse_config
from monitor.core.history import DAY, HOUR, UPTIME_WINDOWS
from monitor.running import MONITOR
from monitor.store import rollups
from monitor.store.models import ProbeResultRow, RollupMarkRow, RollupRow
from monitor.store.queries import uptime_statement, uptime_windows
from monitor.store.rollups import RAW_ID, apply_retention, read_marks, rollup_rows, run_rollups, upsert
from tests.fakes import eventually
from tests.support.store import rollup

NOW = 1_767_225_600 + 13 * HOUR + 1234.5  # 1 January 2026, 13:20:34.5 UTC
STATE_NAMES = ["up", "degraded", "down", "maintenance", "unknown"]
KEEP = Retention()


def result(
    at: float, state: str = "up", channel: str = "allegro", check: str = "home", ok: bool | None = None, duration: float = 0.1
) -> dict:
    ok = state in ("up", "maintenance", "unknown") if ok is None else ok
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


def random_results(seed: int, n: int, days: float = 95.0) -> list[dict]:
    rng = random.Random(seed)
    return [
        result(
            NOW - rng.uniform(0, days * DAY),
            rng.choices(STATE_NAMES, [70, 8, 15, 4, 3])[0],
            rng.choice(["allegro", "amazon", "ceneo"]),
            rng.choice(["home", "dns"]),
            ok=rng.random() < 0.8,
            duration=round(rng.lognormvariate(-2, 1), 6),
        )
        for _ in range(n)
    ]


def store(engine, rows: list[dict]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(ProbeResultRow), rows)


def stored(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ProbeResultRow))]


def rows_of(engine, period: str) -> list[dict]:
    with engine.connect() as conn:
        return rollup_rows(conn, period)


def nearest_rank_p95(values: list[float]) -> float:
    return sorted(values)[-(-95 * len(values) // 100) - 1]


def expected_rollups(raw: list[dict], size: int) -> dict[tuple, dict]:
    """What the rollups of one period must hold, computed the obvious way in Python."""
    buckets: dict[tuple, list[dict]] = defaultdict(list)
    for r in raw:
        buckets[(int(r["at"] // size) * size, r["channel"], r["check"])].append(r)
    out = {}
    for key, rs in buckets.items():
        durations = [r["duration_seconds"] for r in rs if r["ok"]]
        counts = {f"n_{s}": sum(r["channel_state"] == s for r in rs) for s in STATE_NAMES}
        out[key] = {
            **counts,
            "latency_count": len(durations),
            "latency_sum_us": sum(round(d * 1e6) for d in durations),
            "latency_min": min(durations, default=None),
            "latency_max": max(durations, default=None),
            "latency_p95": nearest_rank_p95(durations) if durations else None,
        }
        total = out.setdefault(
            (key[0], key[1], ""),
            {
                **dict.fromkeys(counts, 0),
                "latency_count": 0,
                "latency_sum_us": 0,
                "latency_min": None,
                "latency_max": None,
                "latency_p95": None,
            },
        )
        for state, n in counts.items():
            total[state] += n
    return out


def expected_uptime(raw: list[dict], now: float) -> dict[str, dict[str, float | None]]:
    """The definition: per window starting on the hour, (up + degraded) / (up + degraded + down)."""
    hour = int(now // HOUR) * HOUR
    out: dict[str, dict[str, float | None]] = {}
    for channel in {r["channel"] for r in raw}:
        out[channel] = {}
        for name, seconds in UPTIME_WINDOWS.items():
            states = [r["channel_state"] for r in raw if r["channel"] == channel and r["at"] >= hour - seconds]
            available = sum(s in ("up", "degraded") for s in states)
            counted = available + states.count("down")
            out[channel][name] = available / counted if counted else None
    return out


def same_uptime(got: dict, want: dict) -> bool:
    """Equal, where a channel left out means no window has a counted result."""
    channels = set(got) | set(want)
    for c in channels:
        for w in UPTIME_WINDOWS:
            a, b = got.get(c, {}).get(w), want.get(c, {}).get(w)
            if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-12)):
                return False
    return True


# ------------------------------------------------------------------------------------------ equivalence


def test_hourly_rollups_equal_raw_aggregates(engine):
    raw = random_results(1, 3000)
    store(engine, raw)
    assert run_rollups(engine, chunk_rows=700) == 3000  # several chunks, hours recomputed across them
    want = expected_rollups(raw, HOUR)
    got = {(r["bucket_start"], r["channel"], r["check"]): r for r in rows_of(engine, "hour")}
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        assert {k: g[k] for k in w} == w, key


def test_daily_rollups_are_exact_sums_and_bound_the_p95(engine):
    raw = random_results(2, 3000)
    store(engine, raw)
    run_rollups(engine)
    want = expected_rollups(raw, DAY)
    hourly = rows_of(engine, "hour")
    got = {(r["bucket_start"], r["channel"], r["check"]): r for r in rows_of(engine, "day")}
    assert set(got) == set(want)
    for (day, channel, check), w in want.items():
        g = got[(day, channel, check)]
        exact = [k for k in w if k != "latency_p95"]
        assert {k: g[k] for k in exact} == {k: w[k] for k in exact}
        hour_p95s = [
            h["latency_p95"]
            for h in hourly
            if h["channel"] == channel
            and h["check"] == check != ""
            and day <= h["bucket_start"] < day + DAY
            and h["latency_p95"] is not None
        ]
        assert g["latency_p95"] == max(hour_p95s, default=None)
        if w["latency_p95"] is not None:  # the documented approximation: never below the true p95
            assert w["latency_p95"] <= g["latency_p95"] <= w["latency_max"]


def test_counts_are_64_bit(engine):
    """A check every second for decades fits: counts are BIGINT on every database."""
    big = 3 * 2**32
    with engine.begin() as conn:
        upsert(
            conn,
            [
                {
                    "period": "day",
                    "bucket_start": int(NOW // DAY) * DAY,
                    "channel": "allegro",
                    "check": "",
                    "n_up": big,
                    "n_degraded": 0,
                    "n_down": big,
                    "n_maintenance": big,
                    "n_unknown": 0,
                    "latency_count": big,
                    "latency_sum_us": big * 10**6,
                    "latency_min": 0.1,
                    "latency_max": 0.2,
                    "latency_p95": 0.15,
                }
            ],
        )
    [row] = rows_of(engine, "day")
    assert row["n_up"] == row["n_down"] == row["latency_count"] == big and row["latency_sum_us"] == big * 10**6
    assert uptime_windows(engine, NOW)["allegro"]["24h"] == 0.5


# ------------------------------------------------------------------------------------------ idempotence


def test_rerun_changes_nothing(engine):
    store(engine, random_results(3, 2000))
    run_rollups(engine)
    first = rows_of(engine, "hour"), rows_of(engine, "day")
    assert run_rollups(engine) == 0
    with engine.begin() as conn:  # forget every mark: everything is counted again from scratch
        conn.execute(update(RollupMarkRow).values(value=0))
    assert run_rollups(engine, chunk_rows=333) == 2000
    assert (rows_of(engine, "hour"), rows_of(engine, "day")) == first


def test_interrupted_run_gives_the_same_rows(engine, monkeypatch):
    store(engine, random_results(4, 2000))
    run_rollups(engine)
    reference = rows_of(engine, "hour"), rows_of(engine, "day")
    with engine.begin() as conn:
        conn.execute(delete(RollupRow))
        conn.execute(update(RollupMarkRow).values(value=0))

    chunks = iter(range(100))
    assert run_rollups(engine, chunk_rows=500, should_stop=lambda: next(chunks) >= 2) == 1000  # stopped cleanly
    real_upsert = rollups.upsert

    def crash_on_daily(conn, rows):  # dies inside the transaction, after the hourly rows and the mark
        if rows and rows[0]["period"] == "day":
            raise RuntimeError("power cut")
        real_upsert(conn, rows)

    monkeypatch.setattr(rollups, "upsert", crash_on_daily)
    with pytest.raises(RuntimeError):
        run_rollups(engine, chunk_rows=500)
    with engine.connect() as conn:
        assert read_marks(conn)[RAW_ID] == 1000  # the crashed chunk left nothing behind
    monkeypatch.setattr(rollups, "upsert", real_upsert)
    run_rollups(engine, chunk_rows=500)
    assert (rows_of(engine, "hour"), rows_of(engine, "day")) == reference


def test_a_run_overtaken_by_another_leaves_the_mark_alone(sqlite_engine, monkeypatch):
    store(sqlite_engine, random_results(5, 500))
    real = rollups.aggregate_raw
    raced = []

    def another_run_commits_meanwhile(conn, *args):  # e.g. a second instance, between our read and write
        if not raced:
            raced.append(True)
            with sqlite_engine.begin() as other:
                other.execute(update(RollupMarkRow).where(RollupMarkRow.name == RAW_ID).values(value=500))
        return real(conn, *args)

    monkeypatch.setattr(rollups, "aggregate_raw", another_run_commits_meanwhile)
    assert run_rollups(sqlite_engine) == 0  # our chunk was rolled back, and nothing was left to count
    with sqlite_engine.connect() as conn:
        assert read_marks(conn)[RAW_ID] == 500
        assert conn.execute(select(func.count()).select_from(RollupRow)).scalar_one() == 0


def test_late_result_is_counted_in_its_own_hour_and_day(engine):
    raw = random_results(6, 1000, days=3)
    store(engine, raw)
    run_rollups(engine)
    late = result(NOW - 2 * DAY, "down", "allegro", "home", duration=0.5)
    store(engine, [late])
    assert run_rollups(engine) == 1
    assert {(r["bucket_start"], r["channel"], r["check"]): r["n_down"] for r in rows_of(engine, "hour")} == {
        k: v["n_down"] for k, v in expected_rollups(raw + [late], HOUR).items()
    }
    assert {(r["bucket_start"], r["channel"], r["check"]): r["n_down"] for r in rows_of(engine, "day")} == {
        k: v["n_down"] for k, v in expected_rollups(raw + [late], DAY).items()
    }


# ---------------------------------------------------------------------------------------------- uptime


def test_up_and_degraded_are_available_maintenance_and_unknown_left_out(engine):
    store(engine, [result(NOW - 60, s) for s in ["up", "up", "degraded", "down", "maintenance", "unknown"]])
    assert uptime_windows(engine, NOW) == {"allegro": {"24h": 0.75, "7d": 0.75, "30d": 0.75, "90d": 0.75}}
    run_rollups(engine)
    assert uptime_windows(engine, NOW) == {"allegro": {"24h": 0.75, "7d": 0.75, "30d": 0.75, "90d": 0.75}}


def test_only_maintenance_has_no_uptime(sqlite_engine):
    store(sqlite_engine, [result(NOW - 60, "maintenance"), result(NOW - 60, "unknown")])
    assert uptime_windows(sqlite_engine, NOW)["allegro"] == {"24h": None, "7d": None, "30d": None, "90d": None}


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rollups"])
def test_windows_start_on_the_hour(sqlite_engine, rolled_up):
    hour = int(NOW // HOUR) * HOUR
    store(
        sqlite_engine,
        [
            result(hour - DAY, "up"),  # the first second of the 24 h window
            result(hour - DAY - 0.001, "down"),  # just before it: 7 d and longer only
            result(hour - 7 * DAY - 1, "down"),  # 30 d and 90 d
            result(hour - 90 * DAY, "up"),  # the first second of the 90 d window
            result(hour - 90 * DAY - 1, "down"),
        ],
    )  # outside every window
    if rolled_up:
        run_rollups(sqlite_engine)
    assert uptime_windows(sqlite_engine, NOW)["allegro"] == {"24h": 1.0, "7d": 0.5, "30d": 1 / 3, "90d": 0.5}


def test_uptime_is_fresh_between_runs(sqlite_engine):
    raw = random_results(7, 2000)
    store(sqlite_engine, raw[:1500])
    run_rollups(sqlite_engine)
    store(sqlite_engine, raw[1500:])  # not rolled up yet: read from the raw rows
    assert same_uptime(uptime_windows(sqlite_engine, NOW), expected_uptime(raw, NOW))


def test_uptime_reads_index_ranges_only(sqlite_engine):
    """No full scan: rollups by (period, channel, check, time), raw rows above the mark by id."""
    store(sqlite_engine, random_results(10, 200))
    run_rollups(sqlite_engine)
    sql, params = uptime_statement(NOW, sorted(UPTIME_WINDOWS.values()))
    with sqlite_engine.connect() as conn:
        plan = [row[3] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql), params)]
    assert not [step for step in plan if step.startswith("SCAN") and step not in ("SCAN seen", "SCAN tail")], plan
    assert "SEARCH probe_results USING INTEGER PRIMARY KEY (rowid>?)" in plan
    assert all(
        "(period=? AND channel=? AND check=? AND bucket_start>" in step
        for step in plan
        if step.startswith("SEARCH rollups USING PRIMARY KEY (period=? AND channel=?")
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(st.floats(0, 100 * DAY), st.sampled_from(["a", "b"]), st.sampled_from(["home", "dns"]), st.sampled_from(STATE_NAMES)),
        max_size=60,
    ),
    rolled=st.integers(0, 60),
    chunk=st.integers(1, 20),
    now=st.floats(95 * DAY, 110 * DAY),
)
def test_uptime_equals_share_of_available_raw_results(sqlite_engine, data, rolled, chunk, now):
    """Whatever the data and however far the rollups got, uptime is the share of available results."""
    with sqlite_engine.begin() as conn:
        for table in (ProbeResultRow, RollupRow, RollupMarkRow):
            conn.execute(delete(table))
    raw = [result(now - ago, state, channel, check) for ago, channel, check, state in data]
    store(sqlite_engine, raw[:rolled])
    run_rollups(sqlite_engine, chunk_rows=chunk)
    store(sqlite_engine, raw[rolled:])
    assert same_uptime(uptime_windows(sqlite_engine, now), expected_uptime(raw, now))


# ------------------------------------------------------------------------------------------- retention


def test_retention_deletes_raw_rows_only_once_rolled_up(engine):
    old = [result(NOW - 8 * DAY - i * 1000, "down") for i in range(400)]  # ids 1..400, older than raw: 7d
    recent = random_results(8, 600, days=6)  # ids 401..1000
    store(engine, old + recent)
    assert apply_retention(engine, NOW, KEEP) == (0, 0, 0)  # nothing rolled up: nothing may go
    run_rollups(engine, chunk_rows=400, should_stop=iter([False, True]).__next__)  # the old rows only
    assert apply_retention(engine, NOW, KEEP) == (400, 0, 0)
    assert len(stored(engine)) == 600
    run_rollups(engine)
    assert same_uptime(uptime_windows(engine, NOW), expected_uptime(old + recent, NOW))


def test_a_result_not_yet_rolled_up_holds_retention_back(sqlite_engine):
    store(sqlite_engine, [result(NOW - 20 * DAY + i * HOUR, "up") for i in range(48)])  # one an hour
    run_rollups(sqlite_engine)
    late = result(NOW - 19 * DAY - 0.5, "down")  # written late, after its hour was rolled up
    store(sqlite_engine, [late])
    deleted, _, _ = apply_retention(sqlite_engine, NOW, KEEP)
    assert deleted == 24  # the 24 hours before the late one's; its own hour stays whole
    run_rollups(sqlite_engine)
    assert apply_retention(sqlite_engine, NOW, KEEP)[0] == 25
    assert uptime_windows(sqlite_engine, NOW)["allegro"]["30d"] == 48 / 49


def test_retention_keeps_every_window_exact(engine):
    raw = random_results(9, 4000, days=200)
    store(engine, raw)
    run_rollups(engine)
    before = uptime_windows(engine, NOW)
    raw_deleted, hourly_deleted, daily_deleted = apply_retention(engine, NOW, KEEP)
    assert raw_deleted > 0 and hourly_deleted > 0 and daily_deleted == 0
    assert uptime_windows(engine, NOW) == before
    assert same_uptime(before, expected_uptime(raw, NOW))
    hour_cut = int((NOW - KEEP.hourly) // DAY) * DAY
    assert min(r["bucket_start"] for r in rows_of(engine, "hour")) >= hour_cut
    assert min(r["at"] for r in stored(engine)) >= int((NOW - KEEP.raw) // HOUR) * HOUR


def test_retention_deletes_hourly_rows_only_where_their_day_is_rolled_up(sqlite_engine):
    old_day = int((NOW - 100 * DAY) // DAY) * DAY
    with sqlite_engine.begin() as conn:
        upsert(
            conn,
            [
                rollup("hour", "allegro", "home", old_day + HOUR, n_up=1),
                rollup("hour", "allegro", "dns", old_day + HOUR, n_up=1),
                rollup("day", "allegro", "home", old_day, n_up=1),
                rollup("day", "allegro", "home", int((NOW - 800 * DAY) // DAY) * DAY, n_up=1),
            ],
        )
    assert apply_retention(sqlite_engine, NOW, KEEP) == (0, 1, 1)
    assert [(r["check"], r["bucket_start"]) for r in rows_of(sqlite_engine, "hour")] == [("dns", old_day + HOUR)]
    assert [r["bucket_start"] for r in rows_of(sqlite_engine, "day")] == [old_day]


def test_an_hour_retention_has_begun_is_never_recounted(sqlite_engine):
    old = NOW - 10 * DAY
    store(sqlite_engine, [result(old, "up"), result(old + 1, "up"), result(NOW - 60, "up")])
    run_rollups(sqlite_engine)
    apply_retention(sqlite_engine, NOW, KEEP)
    hourly = rows_of(sqlite_engine, "hour")
    store(sqlite_engine, [result(old + 2, "down")])  # a result written ten days late
    run_rollups(sqlite_engine)
    assert rows_of(sqlite_engine, "hour") == hourly  # not replaced by a row counting the late one alone


def test_retention_config_defaults_and_order():
    assert (KEEP.raw, KEEP.hourly, KEEP.daily) == (7 * DAY, 90 * DAY, 730 * DAY)
    config = parse_config(
        "retention: {raw: 2d, hourly: 30d}\nchannels: [{id: a, name: A, checks: [{kind: http, target: 'https://example.com/'}]}]"
    )
    assert (config.retention.raw, config.retention.hourly, config.retention.daily) == (2 * DAY, 30 * DAY, 730 * DAY)
    with pytest.raises(ValidationError, match=r"raw \(30d\) must be at most hourly \(7d\)"):
        Retention(raw="30d", hourly="7d")


# -------------------------------------------------------------------------------------------- service


async def test_service_rolls_up_and_api_reports_every_window(tmp_path, aiohttp_client, fake_channel, monkeypatch):
    monkeypatch.setattr(monitor.loops, "UPKEEP_INTERVAL", 0.1)
    config = parse_config(
        "\n".join(
            [
                f"data_dir: {tmp_path}",
                "allow_networks: [127.0.0.0/8]",
                "defaults: {interval: 100ms, timeout: 90ms}",
                "channels:",
                "  - id: allegro",
                "    name: Allegro",
                "    checks:",
                f"      - {{kind: http, id: home, target: '{fake_channel.url}'}}",
            ]
        ),
    )
    app = create_app(config, flush_interval=0.05)
    client = await aiohttp_client(app)
    engine = app[MONITOR].engine

    def counted() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.sum(RollupRow.n_up), 0)).where(RollupRow.period == "hour")).scalar_one()

    await eventually(lambda: counted() >= 3)
    [channel] = (await (await client.get("/api/channels")).json())["channels"]
    assert {k: channel[k] for k in ("uptime_24h", "uptime_7d", "uptime_30d", "uptime_90d")} == {
        "uptime_24h": 1.0,
        "uptime_7d": 1.0,
        "uptime_30d": 1.0,
        "uptime_90d": 1.0,
    }
