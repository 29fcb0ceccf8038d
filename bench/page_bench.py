#!/usr/bin/env python3
"""Status page speed with 200 channels and 90 days of history, while the 2,000-check probe load runs.

    .venv/bin/python bench/page_bench.py                     # about 2.5 minutes
    .venv/bin/python bench/page_bench.py --requests 400 --duration 120 --json

The issue's target: "With 200 channels and 90 days of history: overview page p95 under 50 ms and
`summary.json` p95 under 20 ms on this machine, measured side by side with the bench load running."

What it does, in order (bench/README.md has the figures):

1. starts bench/run_bench.py's simulated shops (its --serve-endpoints mode) in their own process
   on a few 127.0.0.1 ports;
2. writes a config of 200 channels x 10 http checks = 2,000 checks every 10 s (run_bench's load:
   body_contains/body_not_contains, timeout 5 s), all against those shops;
3. seeds the service's SQLite database (the project's schema, through make_engine) with what 90
   days leave behind for those channels: hourly and daily rollups per check and per channel total
   (bench/uptime_bench.py's seed_rollups), and closed incidents with their transitions. Raw results
   older than the service's own are not seeded: the pages read rollups plus the raw rows not yet
   rolled up, and the service counts everything into rollups when it starts;
4. starts the service as users do: `channel-monitor run --config FILE --data-dir DIR --listen
   127.0.0.1:PORT`, waits for /healthz, then one interval + 5 s so every check ran and the
   start-up burst is over;
5. measures, with the probes running: --requests GET / and --requests GET of the summary endpoint,
   alternating, spread evenly over --duration seconds (a few browsers refreshing, not a flood), each
   on its own keep-alive connection, after a few warm-up requests. Reports p50/p95/max per endpoint
   and PASS/FAIL against the targets, plus the probes the service completed meanwhile (from
   /metrics) to show the load really ran;
6. stops the service (SIGTERM) and the shops, and removes the temporary directory unless --keep.

The summary endpoint is /api/v2/summary.json; while the service does not have it (404), the script
measures /api/channels instead and says so. Every wait is bounded, only 127.0.0.1 is used, the
children are stopped in `finally` and die with this script (PR_SET_PDEATHSIG). Exit status 0 when
both targets pass, 1 when one fails, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import run_bench as rb  # noqa: E402
import uptime_bench as ub  # noqa: E402

TARGET_OVERVIEW_P95_MS = 50.0
TARGET_SUMMARY_P95_MS = 20.0
SUMMARY_PATH = "/api/v2/summary.json"
FALLBACK_SUMMARY_PATH = "/api/channels"
HOUR, DAY = 3600, 86400


# --------------------------------------------------------------------------- seeding


def seed_history(db_path: Path, channels: list[str], checks: list[str], days: int, now: float, rng: random.Random) -> dict[str, int]:
    """90 days of rollups, incidents and transitions for these channels, in the project's schema."""
    from monitor.store.db import make_engine

    engine = make_engine(f"sqlite:///{db_path}")
    try:
        rollups = ub.seed_rollups(engine, channels, checks, days, now, rng)
        incidents, transitions = [], []
        for channel in channels:
            for _ in range(rng.randint(0, 12)):
                start = now - rng.uniform(HOUR, days * DAY)
                end = start + rng.uniform(60, 2 * HOUR)
                check = rng.choice(checks)
                cause = json.dumps({"check": check, "error_class": "http_status", "error": "HTTP 503"})
                incidents.append((channel, start, min(end, now - 60), cause))
                transitions.append((start, channel, "up", "down", cause))
                transitions.append(
                    (min(end, now - 60), channel, "down", "up", json.dumps({"check": check, "error_class": None, "error": None}))
                )
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO incidents (channel, started_at, ended_at, cause) VALUES (?, ?, ?, ?)", incidents)
            conn.exec_driver_sql(
                "INSERT INTO transitions (at, channel, old_state, new_state, cause) VALUES (?, ?, ?, ?, ?)", sorted(transitions)
            )
    finally:
        engine.dispose()
    return {"rollups": rollups, "incidents": len(incidents), "transitions": len(transitions)}


# --------------------------------------------------------------------------- measuring


class Client:
    """One keep-alive HTTP/1.1 connection to the service; reconnects when the server closes it."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, int, float]:
        """(status, body bytes, seconds from sending the request to the last byte of the body)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.connect()  # not timed: a browser keeps its connection
            try:
                started = time.perf_counter()
                self.conn.request("GET", path, headers={"Accept-Encoding": "identity"})
                response = self.conn.getresponse()
                body = response.read()
                took = time.perf_counter() - started
                if response.will_close:
                    self.close()
                return response.status, len(body), took
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def stats(times_s: list[float], sizes: list[int], target_ms: float) -> dict:
    ms = [t * 1000 for t in times_s]
    p95 = percentile(ms, 0.95)
    return {
        "requests": len(ms),
        "p50_ms": round(percentile(ms, 0.5), 2),
        "p95_ms": round(p95, 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "min_ms": round(min(ms), 2),
        "over_target": sum(1 for v in ms if v >= target_ms),
        "bytes": max(sizes),
        "target_p95_ms": target_ms,
        "pass": p95 < target_ms,
    }


def measure(
    port: int,
    paths: dict[str, str],
    requests: int,
    duration: float,
    warmup: int,
    timeout: float,
    watch: dict[str, subprocess.Popen],
    log: Path,
    pid: int,
) -> dict[str, dict]:
    clients = {name: Client(port, timeout) for name in paths}
    try:
        first = {}
        for name, path in paths.items():
            for i in range(warmup):
                status, _, took = clients[name].get(path)
                if status != 200:
                    raise rb.BenchError(f"GET {path} answered HTTP {status}; the service's log ends:\n{rb.tail(log, 8)}")
                if i == 0:
                    first[name] = round(took * 1000, 2)
        times: dict[str, list[float]] = {name: [] for name in paths}
        sizes: dict[str, list[int]] = {name: [] for name in paths}
        # The service's CPU while each request was in flight (/proc, 10 ms ticks, so only the sum over
        # many requests means something); with the probe load running it includes the probes' work meanwhile.
        cpu: dict[str, float] = {name: 0.0 for name in paths}
        step = duration / requests
        start = time.monotonic()
        for i in range(requests):
            due = start + i * step
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            for name, proc in watch.items():
                if proc.poll() is not None:
                    raise rb.BenchError(f"the {name} process exited with {proc.returncode}:\n{rb.tail(log)}")
            for name, path in paths.items():  # side by side: one of each, back to back
                before = rb.proc_cpu_seconds(pid)
                status, size, took = clients[name].get(path)
                cpu[name] += rb.proc_cpu_seconds(pid) - before
                if status != 200:
                    raise rb.BenchError(f"GET {path} answered HTTP {status}; the service's log ends:\n{rb.tail(log, 8)}")
                times[name].append(took)
                sizes[name].append(size)
        return {"times": times, "sizes": sizes, "cpu": cpu, "first_ms": first, "seconds": time.monotonic() - start}
    finally:
        for client in clients.values():
            client.close()


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, say) -> dict:
    workdir = Path(args.tmpdir or tempfile.mkdtemp(prefix="cm-page-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    service_log = workdir / "service.log"
    endpoints = service = None
    try:
        max_life = args.startup_timeout + args.settle + args.duration + 900
        endpoints, ports = rb.start_shops(args.ports, max_life, 2.0)  # run_bench's default 2 KiB page
        say(f"shops: pid {endpoints.pid}, 127.0.0.1 ports {', '.join(map(str, ports))}")

        config_path = workdir / "bench.yaml"
        load = argparse.Namespace(
            checks=args.channels * args.checks_per_channel,
            checks_per_channel=args.checks_per_channel,
            interval=args.interval,
            timeout=args.timeout,
        )
        n_channels, n_checks = rb.write_config(config_path, load, ports)
        say(
            f"config: {n_checks} http checks = {n_channels} channels x {args.checks_per_channel}, every "
            f"{rb.fmt_duration(args.interval)} -> {config_path}"
        )

        channels = [f"shop-{c:04d}" for c in range(n_channels)]  # as run_bench names them
        checks = [rb.CHECK_NAMES[k] if k < len(rb.CHECK_NAMES) else f"page-{k}" for k in range(args.checks_per_channel)]
        db_path = data_dir / "channel-monitor.db"
        started = time.perf_counter()
        if db_path.exists():  # --tmpdir of an earlier run: its history (and its service's results) again
            seeded = {"rollups": 0, "incidents": 0, "transitions": 0, "reused": True}
            with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)) as conn:
                for table, key in (("rollups", "rollups"), ("incidents", "incidents"), ("transitions", "transitions")):
                    seeded[key] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            say(f"reusing the database of an earlier run in {data_dir}")
        else:
            seeded = seed_history(db_path, channels, checks, args.history_days, time.time(), random.Random(3))
        seed_s = time.perf_counter() - started
        db_mb = sum(p.stat().st_size for p in data_dir.glob("channel-monitor.db*")) / 1e6
        say(
            f"history of {args.history_days} days: {seeded['rollups']:,} rollup rows, {seeded['incidents']:,} incidents, "
            f"{seeded['transitions']:,} transitions ({seed_s:.0f}s, {db_mb:,.0f} MB)"
        )

        port = rb.free_port()
        service, base, cmd = rb.start_service(args, config_path, workdir, port)
        say(f"service: pid {service.pid}: {cmd}")
        startup = rb.wait_ready(service, base, args.startup_timeout, service_log)
        say(f"service ready after {startup:.1f}s; letting the load settle {args.settle:g}s")
        watch = {"service": service, "shops": endpoints}
        rb.sleep_watching(args.settle, watch, service_log)

        status, _ = rb.http_get(base + SUMMARY_PATH, 30.0)
        if status not in (200, 404):
            raise rb.BenchError(f"GET {SUMMARY_PATH} answered HTTP {status}; the service's log ends:\n{rb.tail(service_log, 8)}")
        summary_path = SUMMARY_PATH if status == 200 else FALLBACK_SUMMARY_PATH
        if summary_path != SUMMARY_PATH:
            say(f"{SUMMARY_PATH} answered HTTP {status}: measuring {FALLBACK_SUMMARY_PATH} in its place")
        paths = {"overview": "/", "summary": summary_path}

        m0 = rb.scrape(base)
        cpu0 = rb.proc_cpu_seconds(service.pid)
        shops0 = rb.proc_cpu_seconds(endpoints.pid)
        busy0, all0 = rb.machine_busy()
        self0 = time.process_time()
        say(
            f"measuring: {args.requests} x GET / and {args.requests} x GET {summary_path}, side by side over "
            f"{args.duration:g}s, after {args.warmup_requests} warm-up requests each"
        )
        measured = measure(port, paths, args.requests, args.duration, args.warmup_requests, 30.0, watch, service_log, service.pid)
        self1 = time.process_time()
        busy1, all1 = rb.machine_busy()
        cpu1 = rb.proc_cpu_seconds(service.pid)
        shops1 = rb.proc_cpu_seconds(endpoints.pid)
        m1 = rb.scrape(base)
        probes = rb.total(m1, "channel_monitor_probes_total") - rb.total(m0, "channel_monitor_probes_total")
        failures = rb.total(m1, "channel_monitor_probe_failures_total") - rb.total(m0, "channel_monitor_probe_failures_total")
        window = m1["at"] - m0["at"]
        exit_code, shutdown_s = rb.stop_process(service, args.stop_timeout)

        targets = {"overview": TARGET_OVERVIEW_P95_MS, "summary": TARGET_SUMMARY_P95_MS}
        result = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": rb.machine_description(),
            "code": rb.code_version(),
            "command": rb.command_line(),
            "load": {
                "channels": n_channels,
                "checks": n_checks,
                "interval_s": args.interval,
                "expected_probes_per_s": n_checks / args.interval,
            },
            "history": {"days": args.history_days, **seeded, "seed_s": round(seed_s, 1), "db_mb_seeded": round(db_mb, 1)},
            "paths": paths,
            "summary_is_stand_in": summary_path != SUMMARY_PATH,
            "window_s": round(window, 1),
            "probes_per_s_during": round(probes / window, 1),
            "probe_failures_during": int(failures),
            "service_cpu_pct_during": round((cpu1 - cpu0) / window * 100, 1),
            # of one core; the machine has len(sched_getaffinity) of them
            "machine_cpu_pct_during": round(machine := (busy1 - busy0) / max(1, all1 - all0) * len(os.sched_getaffinity(0)) * 100, 1),
            "other_processes_cpu_pct_during": round(max(0.0, machine - (cpu1 - cpu0 + shops1 - shops0 + self1 - self0) / window * 100), 1),
            "first_request_ms": measured["first_ms"],
            "endpoints": {
                name: {
                    **stats(measured["times"][name], measured["sizes"][name], targets[name]),
                    "service_cpu_ms_per_request": round(measured["cpu"][name] / args.requests * 1000, 1),
                }
                for name in paths
            },
            "service_exit": exit_code,
            "shutdown_s": round(shutdown_s, 2),
        }
        result["pass"] = all(e["pass"] for e in result["endpoints"].values())
        return result
    finally:
        rb.stop_process(service, args.stop_timeout)
        rb.stop_process(endpoints, 10.0)
        if endpoints is not None and endpoints.stdout:
            endpoints.stdout.close()
        if args.keep or args.tmpdir:
            say(f"kept {workdir} (bench.yaml, service.log, data/channel-monitor.db)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(r: dict) -> str:
    mark = {True: "PASS", False: "FAIL"}
    load, hist = r["load"], r["history"]
    lines = [
        f"channel-monitor page benchmark, {r['date']}",
        f"machine: {r['machine']}",
        f"code:    {r['code']}; command: {r['command']}",
        f"load:    {load['checks']} http checks ({load['channels']} channels), every {rb.fmt_duration(load['interval_s'])}: "
        f"{r['probes_per_s_during']:.1f} probes/s during the measurement (expected {load['expected_probes_per_s']:.1f}), "
        f"{r['probe_failures_during']} failed",
        f"cpu:     service {r['service_cpu_pct_during']:.0f}% of one core; whole machine {r['machine_cpu_pct_during']:.0f}%, "
        f"of which other processes (not this benchmark) {r['other_processes_cpu_pct_during']:.0f}%",
        f"history: {hist['days']} days{' (reused)' if hist.get('reused') else ' seeded'}: {hist['rollups']:,} rollup rows, {hist['incidents']:,} incidents, "
        f"{hist['transitions']:,} transitions ({hist['db_mb_seeded']:,.0f} MB)",
        f"window:  {r['window_s']:.0f}s; first request (after start-up and settling): "
        + ", ".join(f"{r['paths'][n]} {v:g} ms" for n, v in r["first_request_ms"].items()),
        "",
        f"  {'endpoint':26} {'requests':>8} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9} {'size':>8} {'CPU/req':>9}   target",
    ]
    for name, e in r["endpoints"].items():
        path = r["paths"][name] + (" (stand-in)" if name == "summary" and r["summary_is_stand_in"] else "")
        lines.append(
            f"  {path:26} {e['requests']:>8} {e['p50_ms']:>6.1f} ms {e['p95_ms']:>6.1f} ms {e['p99_ms']:>6.1f} ms "
            f"{e['max_ms']:>6.1f} ms {e['bytes'] / 1024:>5.0f} KiB {e['service_cpu_ms_per_request']:>6.1f} ms   p95 < {e['target_p95_ms']:g} ms  "
            f"{mark[e['pass']]} ({e['over_target']} over)"
        )
    lines += [
        "",
        "  CPU/req: the service's CPU time while the request was in flight, averaged (/proc ticks of 10 ms;"
        " includes concurrent probe work when the load runs)",
    ]
    if r["summary_is_stand_in"]:
        lines += ["", f"note: the service has no {SUMMARY_PATH} yet; {FALLBACK_SUMMARY_PATH} was measured against its target"]
    lines += [
        "",
        "RESULT: " + ("both targets met" if r["pass"] else "FAIL: " + ", ".join(n for n, e in r["endpoints"].items() if not e["pass"])),
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Status page and summary.json latency with 200 channels, 90 days of "
        "history and the 2,000-check probe load (127.0.0.1 only)."
    )
    p.add_argument("--channels", type=int, default=200, help="channels (default 200)")
    p.add_argument("--checks-per-channel", type=int, default=10, help="http checks per channel (default 10: 2,000 checks)")
    p.add_argument("--interval", type=rb.parse_duration, default=10.0, help="interval of every check (default 10s)")
    p.add_argument("--timeout", type=rb.parse_duration, default=5.0, help="timeout of every check (default 5s)")
    p.add_argument("--history-days", type=int, default=90, help="days of rollups and incidents seeded (default 90)")
    p.add_argument("--requests", type=int, default=200, help="measured requests per endpoint (default 200)")
    p.add_argument("--warmup-requests", type=int, default=5, help="unmeasured requests per endpoint first (default 5)")
    p.add_argument(
        "--duration",
        type=rb.parse_duration,
        default=60.0,
        help="spread the measured requests over this long (default 60s; 0: back to back)",
    )
    p.add_argument("--settle", type=rb.parse_duration, default=None, help="wait after start-up (default interval + 5s)")
    rb.add_process_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (
        min(args.channels, args.checks_per_channel, args.requests, args.ports, args.history_days) < 1
        or args.interval <= 0
        or args.duration < 0
        or args.warmup_requests < 1
    ):
        print("page_bench: counts, --interval and --warmup-requests must be positive", file=sys.stderr)
        return 2
    if args.settle is None:
        args.settle = args.interval + 5.0
    return rb.bench_main("page_bench", args, run, report, (http.client.HTTPException,))


if __name__ == "__main__":
    sys.exit(main())
