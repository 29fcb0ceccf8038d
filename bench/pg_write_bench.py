"""How fast the result writer stores probe results in PostgreSQL (issue 18: can PostgreSQL take what several
locations send?).

100,000 checks a minute from 3 locations is about 5,000 results a second. This writes generated results (not
real probes: the question is the database, not the probing) through the service's own `ResultWriter._write`,
batch after batch as its flushes do: each batch is B result rows plus one check-progress upsert per result,
in one transaction. It prints the rows per second reached, and the CPU per 1,000 rows of this process (the
writer: SQLAlchemy and psycopg) and of the PostgreSQL server processes.

    .venv/bin/python bench/pg_write_bench.py                     # a throw-away PostgreSQL on loopback, 20 s
    .venv/bin/python bench/pg_write_bench.py --batch 2500 --seconds 30
    .venv/bin/python bench/pg_write_bench.py --database-url postgresql://user@127.0.0.1/db   # an existing, empty one

Needs Debian's postgresql (initdb) for the throw-away server. Exit status 0 when it ran, 2 when it could not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: monitor/, tests/support/

from monitor.health import CheckHealth, State  # noqa: E402
from monitor.store.db import make_engine  # noqa: E402
from monitor.store.writer import ResultWriter  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    """utime + stime of these processes, in seconds (a process gone meanwhile counts 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (the postmaster and its backends)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def batch(start: int, size: int, checks: int, now: float) -> tuple[list[dict], list[dict]]:
    results, progress = [], {}
    for i in range(start, start + size):
        channel, check = f"shop-{(i % checks) // 4:05d}", ("home", "product", "cart", "search")[i % 4]
        results.append(
            {
                "at": now,
                "channel": channel,
                "check": check,
                "kind": "http",
                "ok": True,
                "error_class": None,
                "error": None,
                "duration_seconds": 0.002,
                "facts": "{}",
                "severity": None,
                "channel_state": "up",
            }
        )
        health = CheckHealth(State.UP, 0, 0, i // checks + 1, i // checks + 1)
        progress[(channel, check)] = {
            "channel": channel,
            "check": check,
            "state": health.state.value,
            "fails": 0,
            "warns": 0,
            "oks": health.oks,
            "nondown": health.nondown,
            "updated_at": now,
        }
    return results, list(progress.values())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="an existing, empty PostgreSQL database (default: a throw-away server on loopback)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to write (default 20)")
    p.add_argument("--batch", type=int, default=5000, help="result rows per transaction (default 5000: one second at 5,000/s)")
    p.add_argument("--checks", type=int, default=100_000, help="distinct checks the results are spread over (default 100,000)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = p.parse_args()
    cluster = None
    url = args.database_url
    if url is None:
        from tests.support.postgres import Cluster, Unavailable

        try:
            cluster = Cluster()
            url = cluster.start()
        except Unavailable as exc:
            print(f"pg_write_bench: no PostgreSQL server: {exc}; apt-get install postgresql, or give --database-url", file=sys.stderr)
            return 2
    try:
        engine = make_engine(url)
        writer = ResultWriter(engine)
        server = postgres_pids()
        ours0, theirs0, t0 = cpu_of([os.getpid()]), cpu_of(server), time.monotonic()
        written, batches, slowest = 0, 0, 0.0
        deadline = t0 + args.seconds
        while time.monotonic() < deadline:  # bounded by --seconds
            results, progress = batch(written, args.batch, args.checks, time.time())
            started = time.monotonic()
            writer._write(results, [], progress)
            slowest = max(slowest, time.monotonic() - started)
            written += len(results)
            batches += 1
        wall = time.monotonic() - t0
        ours, theirs = cpu_of([os.getpid()]) - ours0, cpu_of(server) - theirs0
        engine.dispose()
    finally:
        if cluster is not None:
            cluster.stop()
            cluster.remove()
    figures = {
        "rows": written,
        "batches": batches,
        "seconds": round(wall, 2),
        "rows_per_second": round(written / wall),
        "slowest_batch_s": round(slowest, 3),
        "writer_cpu_ms_per_1000_rows": round(1000 * ours / written * 1000, 1),
        "postgres_cpu_ms_per_1000_rows": round(1000 * theirs / written * 1000, 1),
        "batch": args.batch,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{written} result rows (+ a progress upsert each) in {batches} transactions of {args.batch} over {wall:.1f} s: "
            f"{figures['rows_per_second']} rows/s; slowest transaction {slowest:.3f} s\n"
            f"CPU per 1,000 rows: writer (this process) {figures['writer_cpu_ms_per_1000_rows']} ms, "
            f"PostgreSQL server {figures['postgres_cpu_ms_per_1000_rows']} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
