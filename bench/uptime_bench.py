#!/usr/bin/env python3
"""Uptime query and database size benchmark for rollups and retention, on SQLite.

    .venv/bin/python bench/uptime_bench.py                       # both parts with the issue's figures
    .venv/bin/python bench/uptime_bench.py --part uptime         # 1,000 channels x 90 days: uptime timing
    .venv/bin/python bench/uptime_bench.py --part size --sim-days 30 --rate 1000 [--facts failures]

Part "uptime": builds a database as the service leaves it after 90 days with 1,000 channels (one
check each by default, every minute): hourly and daily rollups for 90 days (per check and per channel
total), plus the raw results of the last 10 minutes not yet rolled up (the job runs every 5 minutes,
so that is twice the usual tail). Raw rows older than the mark are not seeded: the uptime query never
reads them (it reads the tail by primary key; the size part times the query with 7 days of raw rows).
Then times queries.uptime_windows (24 h, 7 d, 30 d, 90 d of every channel) --repeats times and
reports the median, the fastest, the slowest and the first (cold) run. Target: median under 200 ms.

Part "size": simulates --sim-days days of --rate checks a minute (--channels channels, spread
evenly over the minute) by bulk-inserting the rows a real http check records, in time order, and
runs rollups and retention (default retention: raw 7d, hourly 90d, daily 730d) every --job-every
simulated seconds (default 3600: each run then counts one full hour, the most a 5-minute run of the
service ever recomputes; --job-every 300 is the service's own cadence and takes longer). Reports the database file size (after a WAL
checkpoint; SQLite reuses freed pages, it never shrinks the file), the size per table and index
(dbstat), the rows left, the job's run time, and the uptime query on the resulting database.
Target: under 1 GB after 30 days at 1,000 checks a minute.

--facts full (default) stores the facts JSON of a real https check on every row (about 230 bytes);
--facts failures stores facts only on failed results, to show what that would save.

Everything runs in a temporary directory (removed unless --keep); --max-minutes bounds the
simulation (it stops early, and says so). Uses the project's own schema (make_engine), rollups,
retention and uptime code. Exit status 0 when every measured target passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor.config import Retention  # noqa: E402
from monitor.core.history import DAY, HOUR  # noqa: E402
from monitor.store.db import make_engine  # noqa: E402
from monitor.store.queries import uptime_windows  # noqa: E402
from monitor.store.rollups import roll_up_and_retain  # noqa: E402

TARGET_UPTIME_MS = 200.0
TARGET_DB_BYTES = 1 << 30  # 1 GiB
START = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())  # a midnight
INSERT = (
    'INSERT INTO probe_results (at, channel, "check", kind, ok, error_class, error, duration_seconds, '
    "facts, severity, channel_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
ROLLUP_INSERT = (
    'INSERT INTO rollups (period, bucket_start, channel, "check", n_up, n_degraded, n_down, '
    "n_maintenance, n_unknown, latency_count, latency_sum_us, latency_min, latency_max, latency_p95) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def channel_ids(n: int) -> list[str]:
    return [f"shop-{i:04d}" for i in range(n)]


def ok_facts(rng: random.Random, duration: float) -> str:
    """What an https http check records on success (monitor/probes: http facts)."""
    return json.dumps(
        {
            "status": 200,
            "response_time_seconds": round(duration, 6),
            "first_byte_seconds": round(duration * 0.85, 6),
            "dns_seconds": round(rng.uniform(0.001, 0.02), 6),
            "connect_seconds": round(duration * 0.3, 6),
            "body_bytes": rng.randint(120_000, 260_000),
            "content_type": "text/html; charset=utf-8",
            "redirects": 0,
            "cert_expiry_seconds": rng.randint(2_000_000, 7_000_000),
        }
    )


# ------------------------------------------------------------------------------------ part: uptime


def seed_rollups(engine, channels: list[str], checks: list[str], days: int, now: float, rng: random.Random) -> int:
    """Hourly and daily rows of `days` days for every check (one result a minute) and every channel's
    total (check ""), as rollups make them."""
    first_hour = int(now // HOUR) * HOUR - days * DAY
    hours = range(first_hour, int(now // HOUR) * HOUR, HOUR)  # closed hours; the current one is the tail
    rows = 0
    with engine.begin() as conn:
        for channel in channels:
            down_hours = set(rng.sample(range(len(hours)), rng.randint(0, 12)))
            out: dict[tuple, list] = {}
            for check in checks:
                for i, start in enumerate(hours):
                    down = rng.randint(5, 60) if i in down_hours else 0
                    up = 60 - down
                    lat = sorted(rng.uniform(0.08, 0.3) for _ in range(3))
                    hour = ["hour", start, channel, check, up, 0, down, 0, 0, up, int(up * lat[1] * 1e6), lat[0], lat[2], lat[2] * 1.05]
                    day = start // DAY * DAY
                    for key, row in (
                        (("hour", start, check), hour),
                        (("day", day, check), None),
                        (("hour", start, ""), None),
                        (("day", day, ""), None),
                    ):
                        if row is not None:
                            out[key] = row
                            continue
                        into = out.setdefault(key, [key[0], key[1], channel, key[2], 0, 0, 0, 0, 0, 0, 0, None, None, None])
                        for k in (4, 5, 6, 7, 8):
                            into[k] += hour[k]
                        if key[2]:  # a check's day: its latency too; the totals have none
                            into[9] += hour[9]
                            into[10] += hour[10]
                            into[11] = hour[11] if into[11] is None else min(into[11], hour[11])
                            into[12] = hour[12] if into[12] is None else max(into[12], hour[12])
                            into[13] = hour[13] if into[13] is None else max(into[13], hour[13])
            conn.exec_driver_sql(ROLLUP_INSERT, [tuple(r) for r in out.values()])
            rows += len(out)
        # Everything before the tail is counted: the mark sits at the last raw id (none seeded here).
        conn.exec_driver_sql("INSERT INTO rollup_marks (name, value) VALUES ('raw_id', 0), ('raw_purged_before', 0)")
    return rows


def seed_tail(engine, channels: list[str], checks: list[str], now: float, minutes: int, rng: random.Random) -> int:
    rows = []
    pairs = [(c, k) for c in channels for k in checks]
    for m in range(minutes):
        for i, (channel, check) in enumerate(pairs):
            at = now - minutes * 60 + m * 60 + i * 60 / len(pairs)
            duration = rng.uniform(0.08, 0.3)
            rows.append((at, channel, check, "http", True, None, None, duration, ok_facts(rng, duration), None, "up"))
    with engine.begin() as conn:
        conn.exec_driver_sql(INSERT, rows)
    return len(rows)


def time_uptime(engine, now: float, repeats: int) -> dict:
    times = []
    result = {}
    for _ in range(repeats):
        started = time.perf_counter()
        result = uptime_windows(engine, now)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "first_ms": round(times[0], 1),
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "repeats": repeats,
        "channels_reported": len(result),
    }


def part_uptime(args, workdir: Path, say) -> dict:
    rng = random.Random(1)
    now = START + args.history_days * DAY + 13 * HOUR + 1234.5
    engine = make_engine(f"sqlite:///{workdir / 'uptime.db'}")
    channels = channel_ids(args.channels)
    started = time.perf_counter()
    checks = ["home", "dns", "tls", "product"][: args.checks_per_channel]
    rollup_rows = seed_rollups(engine, channels, checks, args.history_days, now, rng)
    tail = seed_tail(engine, channels, checks, now, args.tail_minutes, rng)
    say(f"seeded {rollup_rows:,} rollup rows and {tail:,} raw rows not yet rolled up in {time.perf_counter() - started:.0f}s")
    timing = time_uptime(engine, now, args.repeats)
    engine.dispose()
    size = (workdir / "uptime.db").stat().st_size
    say(
        f"uptime of {args.channels} channels ({args.checks_per_channel} check each) x 4 windows: median {timing['median_ms']} ms, "
        f"fastest {timing['min_ms']} ms, slowest {timing['max_ms']} ms, first {timing['first_ms']} ms "
        f"({timing['repeats']} runs)"
    )
    return {
        "channels": args.channels,
        "checks_per_channel": args.checks_per_channel,
        "history_days": args.history_days,
        "rollup_rows": rollup_rows,
        "raw_tail_rows": tail,
        "db_bytes": size,
        **timing,
        "target_ms": TARGET_UPTIME_MS,
        "pass": timing["median_ms"] < TARGET_UPTIME_MS,
    }


# -------------------------------------------------------------------------------------- part: size


def part_size(args, workdir: Path, say) -> dict:
    rng = random.Random(2)
    path = workdir / "size.db"
    engine = make_engine(f"sqlite:///{path}")
    keep = Retention()
    channels = channel_ids(args.channels)
    per_channel = args.rate / len(channels)  # checks a minute per channel, spread over the minute
    step = 60 / args.rate
    job_every = args.job_every
    # Realistic, varied rows without generating JSON 40 million times: a pool of real-looking results.
    pool = []
    for _ in range(4099):
        duration = rng.lognormvariate(-1.8, 0.4)
        pool.append((duration, ok_facts(rng, duration) if args.facts == "full" else "{}"))
    failed_facts = json.dumps(
        {
            "status": 503,
            "response_time_seconds": 0.2134,
            "first_byte_seconds": 0.2101,
            "dns_seconds": 0.0093,
            "connect_seconds": 0.0712,
            "body_bytes": 1432,
            "content_type": "text/html",
            "redirects": 0,
            "cert_expiry_seconds": 5184000,
        }
    )
    deadline = time.monotonic() + args.max_minutes * 60
    job_ms: list[float] = []
    inserted = 0
    t = float(START)
    end = START + args.sim_days * DAY
    next_job = START + job_every
    stopped_early = False
    insert_seconds = 0.0
    while t < end:
        if time.monotonic() > deadline:
            stopped_early = True
            break
        batch_end = min(next_job, end)
        rows = []
        i = int(round((t - START) / step))
        while START + i * step < batch_end:
            at = START + i * step
            channel = channels[int(i % args.rate / per_channel) % len(channels)]
            duration, facts = pool[i % len(pool)]
            if i % 100 == 37:  # 1 % failures
                rows.append(
                    (
                        at,
                        channel,
                        "home",
                        "http",
                        False,
                        "http_status",
                        "HTTP 503 Service Unavailable",
                        duration,
                        failed_facts,
                        "down",
                        "up",
                    )
                )
            else:
                rows.append((at, channel, "home", "http", True, None, None, duration, facts, None, "up"))
            i += 1
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql(INSERT, rows)
        insert_seconds += time.perf_counter() - started
        inserted += len(rows)
        t = batch_end
        started = time.perf_counter()
        roll_up_and_retain(engine, t, keep)
        job_ms.append((time.perf_counter() - started) * 1000)
        next_job += job_every
        if len(job_ms) % max(1, int(DAY / job_every)) == 0:
            say(f"  day {int((t - START) // DAY)}: {inserted:,} results, file {path.stat().st_size / 1e6:,.0f} MB")
    simulated_days = (t - START) / DAY
    timing = time_uptime(engine, t, args.repeats)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        tables = {name: size for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
        counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in ("probe_results", "rollups")}
    size = path.stat().st_size + sum(p.stat().st_size for p in workdir.glob("size.db-*"))
    job_sorted = sorted(job_ms)
    say(
        f"simulated {simulated_days:.1f} days at {args.rate} checks/min ({inserted:,} results, facts={args.facts}): "
        f"database {size / 1e6:,.0f} MB ({size / 2**30:.2f} GiB), {free * page_size / 1e6:,.0f} MB of it free pages"
    )
    say("  " + ", ".join(f"{n} {b / 1e6:,.0f} MB" for n, b in tables.items() if b > 1e6))
    say(
        f"  rows left: {counts['probe_results']:,} raw, {counts['rollups']:,} rollups; job every "
        f"{job_every:g}s took median {statistics.median(job_sorted):.0f} ms, p99 "
        f"{job_sorted[int(len(job_sorted) * 0.99)]:.0f} ms, max {job_sorted[-1]:.0f} ms"
    )
    say(f"  uptime query on this database: median {timing['median_ms']} ms, slowest {timing['max_ms']} ms")
    return {
        "sim_days": round(simulated_days, 2),
        "stopped_early": stopped_early,
        "rate_per_min": args.rate,
        "channels": args.channels,
        "facts": args.facts,
        "results": inserted,
        "db_bytes": size,
        "free_bytes": free * page_size,
        "page_bytes": pages * page_size,
        "bytes_by_object": tables,
        "rows": counts,
        "job_every_s": job_every,
        "job_median_ms": round(statistics.median(job_sorted), 1),
        "job_p99_ms": round(job_sorted[int(len(job_sorted) * 0.99)], 1),
        "job_max_ms": round(job_sorted[-1], 1),
        "insert_seconds": round(insert_seconds, 1),
        "uptime": timing,
        "target_bytes": TARGET_DB_BYTES,
        "pass": size < TARGET_DB_BYTES and not stopped_early,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Uptime query and database size benchmark (SQLite).")
    p.add_argument("--part", choices=["uptime", "size", "both"], default="both")
    p.add_argument("--channels", type=int, default=1000, help="channels, one check each (default 1000)")
    p.add_argument(
        "--checks-per-channel",
        type=int,
        default=1,
        choices=[1, 2, 3, 4],
        help="uptime part: checks per channel, each with its own rollups (default 1)",
    )
    p.add_argument("--history-days", type=int, default=90, help="uptime part: days of rollups (default 90)")
    p.add_argument("--tail-minutes", type=int, default=10, help="uptime part: minutes of raw rows not yet rolled up")
    p.add_argument("--repeats", type=int, default=15, help="uptime queries timed (default 15)")
    p.add_argument("--sim-days", type=float, default=30, help="size part: simulated days (default 30)")
    p.add_argument("--rate", type=int, default=1000, help="size part: checks a minute (default 1000)")
    p.add_argument(
        "--job-every", type=float, default=3600.0, help="size part: simulated seconds between runs of rollups and retention (default 3600)"
    )
    p.add_argument(
        "--facts",
        choices=["full", "failures"],
        default="full",
        help="size part: facts JSON on every row (what the service stores) or on failures only",
    )
    p.add_argument("--max-minutes", type=float, default=45.0, help="size part: stop the simulation after this")
    p.add_argument("--tmpdir", help="work here (kept) instead of a new temporary directory")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir = Path(args.tmpdir) if args.tmpdir else Path(tempfile.mkdtemp(prefix="cm-uptime-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    report: dict = {
        "date": dt.date.today().isoformat(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        if args.part in ("uptime", "both"):
            report["uptime"] = part_uptime(args, workdir, say)
        if args.part in ("size", "both"):
            report["size"] = part_size(args, workdir, say)
    finally:
        if not (args.keep or args.tmpdir):
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    passed = all(part["pass"] for key, part in report.items() if isinstance(part, dict))
    say("PASS" if passed else "FAIL: a target was missed (see above)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
