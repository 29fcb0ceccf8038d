#!/usr/bin/env python3
"""Failover latency of the real `channel-monitor run` service under the load benchmark's load.

    .venv/bin/python bench/failover_bench.py                  # 2000 checks every 10 s + 5 break/heal cycles
    .venv/bin/python bench/failover_bench.py --checks 0       # the failover channels alone, for comparison
    .venv/bin/python bench/failover_bench.py --cycles 10 --json

The target (issue): from the probe result that crosses the down threshold (plus the hold-down, 0 s here)
to the first failover action acknowledged by a receiver on loopback: under 1 s at the 2,000-check load.

What it does, in order:

1. starts the simulated shops of bench/run_bench.py in their own process (the same command) and, in a
   thread of this process, two small aiohttp servers on 127.0.0.1: a *breakable shop* (GET / answers 200
   with "Add to cart", or 503 while broken) and a *webhook receiver* that verifies every request's
   X-Channel-Monitor-Signature with monitor.core.signing.verify and records the time.time() at which
   it acknowledged each action (first acknowledgement per idempotency key);
2. writes run_bench's config (N http checks, default 2000 every 10 s) plus three channels checked every
   1 s: fo-a (the breakable shop; fail_threshold 3, recover_threshold 2), fo-b and fo-c (simulated shops),
   and one promotion in mode auto over them (50/30/20) with a webhook actuator pointing at the receiver,
   hold_down 0 s, failback_after 0 s and settle 0 s (the settle window would add its own wait to every figure);
3. starts the service as users do, waits for /healthz, the warm-up (one interval + 5 s) and fo-a/b/c up;
4. runs --cycles break/heal cycles. Break: the shop answers 503; read from the service's SQLite database
   (read-only, polled: the result writer flushes every 0.5 s) fo-a's transition to down (its `at` is the
   wall-clock start of the probe whose result crossed the threshold), the plan the failover step wrote
   after it and the plan's actions; wait (bounded) until the receiver acknowledged every action. Heal:
   the same for the transition to up and the failback plan. Before each break: fo-a/b/c up, nothing
   pending, the receiver's allocation normal and no delivery for --settle seconds (default 3);
5. prints per-cycle latencies, their median and max, PASS/FAIL of the max against 1 s; stops the
   service, the shops and the thread; removes the temporary directory (unless --keep).

Every wait is bounded; children get SIGTERM then SIGKILL in `finally` and die with this script
(PR_SET_PDEATHSIG). Only 127.0.0.1 is used. Exit status 0 when the target is met, 1 when it is not
(or an action never came), 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/
import run_bench  # noqa: E402  (the load benchmark: shops, config, service start, scraping, machine line)
from run_bench import BenchError, fmt_duration, parse_duration  # noqa: E402

from examples.failover_receiver import FailoverReceiver  # noqa: E402

TARGET_S = 1.0
PROMOTION = "bench"
CHANNELS = ("fo-a", "fo-b", "fo-c")
NORMAL = {"fo-a": 50000, "fo-b": 30000, "fo-c": 20000}  # 100000 over shares 50/30/20
FO_INTERVAL, FO_TIMEOUT = 1.0, 0.5


class ActionMissing(Exception):
    """The service did not do what a cycle waits for in time: a failed measurement, not a broken bench."""


# --------------------------------------------------------------------------- loopback servers (a thread)


class BreakableShop:
    """GET / answers the product page, or 503 while `broken`; every request's time is kept."""

    def __init__(self, body: bytes) -> None:
        from aiohttp import web

        self.body = body
        self.broken = False
        self.requests: list[tuple[float, bool]] = []  # (time.time(), answered 503)
        self.app = web.Application()
        self.app.router.add_get("/", self.handle)

    async def handle(self, _request):
        from aiohttp import web

        broken = self.broken
        self.requests.append((time.time(), broken))
        if broken:
            return web.Response(status=503, text="Service Unavailable")
        return web.Response(body=self.body, content_type="text/html", charset="utf-8")


class Receiver(FailoverReceiver):
    """The receiver sellers start from (examples/failover_receiver.py: signature, one apply per key, 409 on a
    changed value), plus when each key was first acknowledged and what it refused."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.values = {("promotion", PROMOTION, c): v for c, v in NORMAL.items()}
        self.acks: list[dict] = []  # every acknowledged delivery, in order
        self.first_ack: dict[str, float] = {}  # idempotency key -> time.time() of its first acknowledgement
        self.rejected: list[str] = []

    async def handle(self, request):
        response = await super().handle(request)
        now = time.time()  # acknowledged (or refused): sending the answer is all that is left
        if response.status != 200:
            self.rejected.append(f"HTTP {response.status}: {response.text}")
            return response
        action = json.loads(await request.read())  # aiohttp keeps the body read by the example
        self.first_ack.setdefault(action["id"], now)
        self.acks.append(
            {
                "at": now,
                "op": action["op"],
                "channel": action["channel"],
                "key": action["id"],
                "value": action.get("value"),
                "attempt": action.get("attempt"),
            }
        )
        return response

    @property
    def amounts(self) -> dict[str, int]:
        return {channel: v for (kind, owner, channel), v in self.values.items() if owner == PROMOTION}

    @property
    def paused_channels(self) -> set[str]:
        return {channel for kind, owner, channel in self.paused if owner == PROMOTION}


class Loopback:
    """Runs the breakable shop and the receiver on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, shop: BreakableShop, receiver: Receiver) -> None:
        self.shop, self.receiver = shop, receiver
        self.shop_port = self.receiver_port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="loopback-servers", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BenchError(f"the loopback shop and receiver did not start within {timeout:g}s")
        if self._error is not None:
            raise BenchError(f"the loopback shop and receiver failed to start: {self._error!r}")

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)  # a daemon thread: it cannot outlive this script anyway

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 (reported to the main thread)
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runners = []
        try:
            ports = []
            for app in (self.shop.app, self.receiver.app):
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                runners.append(runner)
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                ports.append(runner.addresses[0][1])
            self.shop_port, self.receiver_port = ports
            self._ready.set()
            await self._stop.wait()
        finally:
            for runner in runners:
                await runner.cleanup()


# --------------------------------------------------------------------------- config


def write_config(path: Path, args: argparse.Namespace, ports: list[int], shop_port: int, hook_port: int, secret: str) -> tuple[int, int]:
    """run_bench's config, then the three failover channels and the promotion."""
    import yaml

    n_channels, n_checks = run_bench.write_config(path, args, ports) if args.checks else (0, 0)
    if args.checks:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    else:
        config = {"listen": "127.0.0.1:8080", "data_dir": "data"}
        if run_bench._config_has("allow_networks"):
            config["allow_networks"] = ["127.0.0.0/8"]
        config["channels"] = []
    common = {"interval": fmt_duration(FO_INTERVAL), "timeout": fmt_duration(FO_TIMEOUT), "body_contains": ["Add to cart"]}
    config["channels"] += [
        {
            "id": "fo-a",
            "name": "Failover A (breakable)",
            "group": "own_shop",
            "fail_threshold": 3,
            "recover_threshold": 2,
            "checks": [{"id": "home", "kind": "http", "target": f"http://127.0.0.1:{shop_port}/", **common}],
        },
        {
            "id": "fo-b",
            "name": "Failover B",
            "group": "own_shop",
            "checks": [{"id": "home", "kind": "http", "target": f"http://127.0.0.1:{ports[0]}/fo-b/home", **common}],
        },
        {
            "id": "fo-c",
            "name": "Failover C",
            "group": "own_shop",
            "checks": [{"id": "home", "kind": "http", "target": f"http://127.0.0.1:{ports[-1]}/fo-c/home", **common}],
        },
    ]
    config["failover"] = {
        "timing": {"hold_down": "0s", "failback_after": "0s", "settle": "0s", "max_moves_per_hour": 60},
        "actuators": [{"id": "hook", "kind": "webhook", "url": f"http://127.0.0.1:{hook_port}/failover", "secret": secret}],
        "promotions": [
            {
                "id": PROMOTION,
                "name": "Bench",
                "total": sum(NORMAL.values()),
                "unit": "PLN",
                "mode": "auto",
                "channels": {c: {"share": v // 1000, "actuator": "hook"} for c, v in NORMAL.items()},
            }
        ],
    }
    path.write_text(
        "# generated by bench/failover_bench.py (bench/run_bench.py's load + failover)\n" + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return n_channels, n_checks


# --------------------------------------------------------------------------- the service's database


class Db:
    """Read-only queries on the service's SQLite file (WAL: reading never blocks its writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            if self.conn is None:
                if not self.path.exists():
                    return []
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5, isolation_level=None)
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # busy, or the table not there yet: the caller polls again
            return []

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def quiet(db: Db, receiver: Receiver, seconds: float) -> bool:
    """fo-a/b/c up, no failover action waiting, the receiver's allocation normal and no delivery for `seconds`."""
    up = db.rows("SELECT COUNT(*) FROM channel_states WHERE channel IN ('fo-a', 'fo-b', 'fo-c') AND state = 'up'")
    waiting = db.rows("SELECT COUNT(*) FROM failover_actions WHERE status IN ('pending', 'sending')")
    last = receiver.acks[-1]["at"] if receiver.acks else 0.0
    return (
        bool(up)
        and up[0][0] == 3
        and bool(waiting)
        and waiting[0][0] == 0
        and receiver.amounts == NORMAL
        and not receiver.paused_channels
        and time.time() - last > seconds
    )


def wait_quiet(db: Db, receiver: Receiver, service: subprocess.Popen, log: Path, args: argparse.Namespace) -> None:
    poll(
        f"quiet (fo-a, fo-b, fo-c up, no action pending, the receiver's allocation normal and nothing received for {args.settle:g}s)",
        lambda: quiet(db, receiver, args.settle),
        args.quiet_timeout,
        service,
        log,
        step=0.1,
    )


def poll(what: str, fn, timeout: float, service: subprocess.Popen, log: Path, step: float = 0.02):
    """Call fn until it returns something truthy; bounded by timeout (and the service being alive)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        value = fn()
        if value:
            return value
        if service.poll() is not None:
            raise BenchError(f"the service exited with {service.returncode} while waiting for {what}:\n{run_bench.tail(log)}")
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    raise ActionMissing(f"no {what} within {timeout:g}s")


# --------------------------------------------------------------------------- one break or heal


def phase(
    kind: str,
    *,
    shop: BreakableShop,
    receiver: Receiver,
    db: Db,
    service: subprocess.Popen,
    log: Path,
    args: argparse.Namespace,
    after: dict,
) -> dict:
    """Break (kind 'failover') or heal (kind 'failback') fo-a and time what follows.

    Robust to other transitions meanwhile (a probe of fo-b timing out on a starved machine): the
    crossing is fo-a's first transition to the new state after the flip, the plan is the first one
    at or after the crossing that has fo-a failed (failover) or not (failback), and an action that a
    newer plan superseded before it went out is not waited for.
    """
    new_state = "down" if kind == "failover" else "up"
    flipped = time.time()
    shop.broken = kind == "failover"
    # 1. the transition the service recorded (the result writer flushes every 0.5 s). A probe sent just
    #    before the flip may already see the new answer, hence the 0.5 s of slack.
    crossing_id, crossing = poll(
        f"fo-a transition to {new_state}",
        lambda: db.rows(
            "SELECT id, at FROM transitions WHERE channel = 'fo-a' AND new_state = ? AND id > ? AND at >= ? ORDER BY id LIMIT 1",
            (new_state, after["transition"], flipped - 0.5),
        ),
        args.ack_timeout,
        service,
        log,
    )[0]
    probe = db.rows("SELECT duration_seconds FROM probe_results WHERE channel = 'fo-a' AND at = ? LIMIT 1", (crossing,))
    probe_s = probe[0][0] if probe else None

    # 2. the plan the failover step wrote for it (committed before any of its actions is sent)
    def find_plan():
        for plan_id, plan_at, reason in db.rows(
            "SELECT id, at, reason FROM failover_plans WHERE owner = ? AND id > ? AND at >= ? ORDER BY id",
            (PROMOTION, after["plan"], crossing),
        ):
            failed = json.loads(reason or "{}").get("failed", [])
            if ("fo-a" in failed) == (kind == "failover"):
                return plan_id, plan_at, failed
        return None

    plan_id, plan_at, plan_failed = poll(f"{kind} plan", find_plan, args.db_timeout, service, log)
    actions = poll(
        f"actions of plan {plan_id}",
        lambda: db.rows("SELECT key, op, channel FROM failover_actions WHERE plan_id = ? ORDER BY id", (plan_id,)),
        args.db_timeout,
        service,
        log,
    )
    keys = [k for k, _, _ in actions]

    # 3. every action of the plan acknowledged (or replaced by a newer plan before it was sent)
    def settled():
        if not all(k in receiver.first_ack for k in keys):
            status = dict(db.rows("SELECT key, status FROM failover_actions WHERE plan_id = ?", (plan_id,)))
            if not all(k in receiver.first_ack or status.get(k) in ("superseded", "failed", "conflict") for k in keys):
                return False
        return any(k in receiver.first_ack for k in keys) or "none"

    poll(f"all {len(keys)} {kind} actions acknowledged", settled, args.ack_timeout, service, log, step=0.05)
    acked = sorted((receiver.first_ack[k], op, ch) for k, op, ch in actions if k in receiver.first_ack)
    if not acked:
        raise ActionMissing(f"every action of {kind} plan {plan_id} was superseded before it was sent")
    first, last = acked[0][0], acked[-1][0]
    after["transition"], after["plan"] = crossing_id, plan_id
    return {
        "kind": kind,
        "flipped_at": round(flipped, 4),
        "crossing_at": round(crossing, 4),
        "crossing_probe_s": round(probe_s, 4) if probe_s is not None else None,
        "detect_s": round(crossing - flipped, 3),  # flip -> start of the probe that crossed the threshold
        "probes_started_in_second_before": None,  # filled in after the service stopped (all rows flushed)
        "plan_id": plan_id,
        "plan_failed": plan_failed,
        "plan_at": round(plan_at, 4),
        "crossing_to_plan_s": round(plan_at - crossing, 4),
        "plan_to_first_ack_s": round(first - plan_at, 4),
        "first_ack_s": round(first - crossing, 4),
        "first_ack_after_result_s": round(first - crossing - probe_s, 4) if probe_s is not None else None,
        "last_ack_s": round(last - crossing, 4),
        "actions": [{"op": op, "channel": ch, "ack_s": round(t - crossing, 4)} for t, op, ch in acked],
        "actions_superseded": len(keys) - len(acked),
    }


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, say) -> dict:
    workdir = Path(args.tmpdir or tempfile.mkdtemp(prefix="cm-failover-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    service_log = workdir / "service.log"
    endpoints = service = None
    loopback: Loopback | None = None
    db = Db(data_dir / "channel-monitor.db")
    try:
        # 1. simulated shops (run_bench's, same command) and, here, the breakable shop and the receiver
        max_life = (
            args.startup_timeout
            + args.warmup
            + args.quiet_timeout
            + 300
            + args.cycles * (4 * (args.ack_timeout + args.db_timeout) + args.quiet_timeout)
        )
        endpoints, ports = run_bench.start_shops(args.ports, max_life, args.page_kb)
        secret = secrets.token_hex(16)  # 32 characters
        shop, receiver = BreakableShop(run_bench.page(args.page_kb)), Receiver(secret)
        loopback = Loopback(shop, receiver)
        loopback.start()
        say(
            f"shops: pid {endpoints.pid}, ports {', '.join(map(str, ports))}; breakable shop 127.0.0.1:"
            f"{loopback.shop_port}, receiver 127.0.0.1:{loopback.receiver_port}/failover (in this process)"
        )

        # 2. config
        config_path = workdir / "bench.yaml"
        n_channels, n_checks = write_config(config_path, args, ports, loopback.shop_port, loopback.receiver_port, secret)
        expected_rate = n_checks / args.interval + len(CHANNELS) / FO_INTERVAL
        say(
            f"config: {n_checks} checks every {fmt_duration(args.interval)} + fo-a/fo-b/fo-c every "
            f"{fmt_duration(FO_INTERVAL)} (expected {expected_rate:g} probes/s) -> {config_path}"
        )

        # 3. the service, as users start it
        service, base, cmd = run_bench.start_service(args, config_path, workdir, args.port or run_bench.free_port())
        say(f"service: pid {service.pid}: {cmd}")
        startup = run_bench.wait_ready(service, base, args.startup_timeout, service_log)
        say(f"service ready after {startup:.1f}s; warming up {args.warmup:g}s")
        run_bench.sleep_watching(args.warmup, {"service": service, "shops": endpoints}, service_log)
        try:
            wait_quiet(db, receiver, service, service_log, args)
        except ActionMissing as exc:
            raise BenchError(f"{exc}:\n{run_bench.tail(service_log)}") from None
        after = {
            "transition": (db.rows("SELECT COALESCE(MAX(id), 0) FROM transitions") or [(0,)])[0][0],
            "plan": (db.rows("SELECT COALESCE(MAX(id), 0) FROM failover_plans") or [(0,)])[0][0],
        }
        # Failovers nobody asked for before the first break (e.g. probes timing out in the start-up burst).
        before_cycles = {
            "acks": len(receiver.acks),
            "downs": [
                {"channel": ch, "at": round(at, 3), "cause": json.loads(cause or "{}")}
                for ch, at, cause in db.rows(
                    "SELECT channel, at, cause FROM transitions WHERE channel IN ('fo-a', 'fo-b', 'fo-c') "
                    "AND new_state = 'down' AND id <= ? ORDER BY id",
                    (after["transition"],),
                )
            ],
        }
        if before_cycles["acks"]:
            say(
                f"note: {before_cycles['acks']} actions were acknowledged before the first break "
                f"({len(before_cycles['downs'])} fo-* transitions to down during start-up)"
            )

        # 4. the cycles, with /metrics and CPU around them
        say(f"running {args.cycles} break/heal cycles ...")
        first_transition = after["transition"]
        m0 = run_bench.scrape(base)
        cpu0, busy0, t0 = run_bench.proc_cpu_seconds(service.pid), run_bench.machine_busy(), time.time()
        cycles: list[dict] = []
        missing = None
        for n in range(1, args.cycles + 1):
            cycle: dict = {"cycle": n}
            try:
                cycle["failover"] = phase(
                    "failover", shop=shop, receiver=receiver, db=db, service=service, log=service_log, args=args, after=after
                )
                cycle["failback"] = phase(
                    "failback", shop=shop, receiver=receiver, db=db, service=service, log=service_log, args=args, after=after
                )
            except ActionMissing as exc:
                missing = f"cycle {n}: {exc}"
                cycle["error"] = str(exc)
                cycles.append(cycle)
                break
            cycles.append(cycle)
            fo, fb = cycle["failover"], cycle["failback"]
            say(
                f"  cycle {n}: failover first ack {fo['first_ack_s'] * 1000:.0f} ms, last {fo['last_ack_s'] * 1000:.0f} ms; "
                f"failback first ack {fb['first_ack_s'] * 1000:.0f} ms, last {fb['last_ack_s'] * 1000:.0f} ms"
            )
            if n < args.cycles:
                try:
                    wait_quiet(db, receiver, service, service_log, args)
                except ActionMissing as exc:
                    missing = f"after cycle {n}: {exc}"
                    break
        if n_checks:
            # A window of whole intervals: the scheduler runs checks unevenly within an interval, so a
            # window of a fraction of one more would not show the real rate.
            elapsed = time.time() - m0["at"]
            run_bench.sleep_watching(
                -(-elapsed // args.interval) * args.interval - elapsed, {"service": service, "shops": endpoints}, service_log
            )
        cpu1, busy1, t1 = run_bench.proc_cpu_seconds(service.pid), run_bench.machine_busy(), time.time()
        m1 = run_bench.scrape(base)
        shop.broken = False

        # figures
        crossings = {c["failover"]["crossing_at"] for c in cycles if "failover" in c}
        spurious = [
            {"channel": ch, "at": round(at, 3), "cause": json.loads(cause or "{}")}
            for ch, at, cause in db.rows(
                "SELECT channel, at, cause FROM transitions WHERE channel IN ('fo-a', 'fo-b', 'fo-c') AND new_state = 'down' "
                "AND id > ? AND at <= ? ORDER BY id",
                (first_transition, t1),
            )
            if round(at, 4) not in crossings
        ]
        window = m1["at"] - m0["at"]
        probes = run_bench.total(m1, "channel_monitor_probes_total") - run_bench.total(m0, "channel_monitor_probes_total")

        def failures(m: dict) -> float:  # fo-a fails on purpose; any other failure means a distorted load
            return sum(
                v for name, labels, v in m["samples"] if name == "channel_monitor_probe_failures_total" and labels.get("channel") != "fo-a"
            )

        b0, b1 = run_bench.lag_buckets(m0), run_bench.lag_buckets(m1)
        p99, _ = run_bench.quantile_bucket(b0, b1, 0.99)
        machine = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * len(os.sched_getaffinity(0)) * 100
        done = [c for c in cycles if "error" not in c]
        firsts = [c["failover"]["first_ack_s"] for c in done]
        summary = {}
        for kind in ("failover", "failback"):
            for key in ("first_ack_s", "last_ack_s", "crossing_to_plan_s", "plan_to_first_ack_s"):
                values = [c[kind][key] for c in done]
                summary[f"{kind}_{key}"] = (
                    {"median": round(statistics.median(values), 4), "max": round(max(values), 4), "min": round(min(values), 4)}
                    if values
                    else None
                )
        passed = bool(done) and missing is None and len(done) == args.cycles and max(firsts) < TARGET_S
        exit_code, shutdown_s = run_bench.stop_process(service, args.stop_timeout)
        service = None
        db.close()
        rows = run_bench.count_rows(data_dir / "channel-monitor.db", m0["at"], m1["at"], m1["received"])
        # How busy the service was at each crossing: probes (all checks) it started in the second before.
        for c in cycles:
            for kind in ("failover", "failback"):
                if kind in c:
                    busy = db.rows(
                        "SELECT COUNT(*) FROM probe_results WHERE at > ? AND at <= ?",
                        (c[kind]["crossing_at"] - 1.0, c[kind]["crossing_at"]),
                    )
                    c[kind]["probes_started_in_second_before"] = busy[0][0] if busy else None
        db.close()
        return {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": run_bench.machine_description(),
            "code": run_bench.code_version(),
            "command": run_bench.command_line(),
            "load": {
                "checks": n_checks,
                "channels": n_channels,
                "checks_per_channel": args.checks_per_channel,
                "interval_s": args.interval,
                "failover_channels": list(CHANNELS),
                "failover_interval_s": FO_INTERVAL,
                "expected_probes_per_s": expected_rate,
            },
            "failover_config": {
                "hold_down_s": 0,
                "failback_after_s": 0,
                "settle_s": 0,
                "fail_threshold": 3,
                "recover_threshold": 2,
                "actuator": "webhook",
                "normal": NORMAL,
            },
            "window_s": round(window, 2),
            "probes_per_s": round(probes / window, 2) if window > 0 else None,
            "db_probes_per_s": round(rows["window"] / window, 2) if window > 0 else None,
            "missed_runs": int(
                run_bench.total(m1, "channel_monitor_scheduler_missed_runs_total")
                - run_bench.total(m0, "channel_monitor_scheduler_missed_runs_total")
            ),
            "probe_failures_other_than_fo_a": int(failures(m1) - failures(m0)),
            "lag_p99_bucket_le_s": p99,
            "service_cpu_pct_of_one_core": round((cpu1 - cpu0) / max(1e-9, t1 - t0) * 100, 1),
            "machine_cpu_pct": round(machine, 1),
            "startup_s": round(startup, 2),
            "before_cycles": before_cycles,
            "spurious_downs_during_cycles": spurious,
            "cycles": cycles,
            "summary": summary,
            "receiver": {
                "acks": len(receiver.acks),
                "distinct_keys": len(receiver.first_ack),
                "rejected": len(receiver.rejected),
                "amounts": receiver.amounts,
                "paused": sorted(receiver.paused_channels),
                "back_to_normal": receiver.amounts == NORMAL and not receiver.paused_channels,
            },
            "service_exit_code": exit_code,
            "shutdown_s": round(shutdown_s, 2),
            "error": missing,
            "target": {
                "what": "max over cycles of threshold-crossing result -> first action acknowledged",
                "limit_s": TARGET_S,
                "pass": passed,
            },
            "pass": passed,
        }
    finally:
        db.close()
        run_bench.stop_process(service, args.stop_timeout)
        run_bench.stop_process(endpoints, 10.0)
        if endpoints is not None and endpoints.stdout:
            endpoints.stdout.close()
        if loopback is not None:
            loopback.stop()
        if args.keep:
            say(f"kept {workdir} (bench.yaml, service.log, data/channel-monitor.db)")
        elif not args.tmpdir:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- report


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def note(p: dict) -> str:
    """What was unusual about a phase: other channels failed in its plan, actions replaced before sending."""
    notes = []
    if p["plan_failed"] != (["fo-a"] if p["kind"] == "failover" else []):
        notes.append(f"plan {p['plan_id']} had failed: {', '.join(p['plan_failed']) or 'none'}")
    if p["actions_superseded"]:
        notes.append(f"{p['actions_superseded']} actions superseded")
    return "  (" + "; ".join(notes) + ")" if notes else ""


def report(r: dict) -> str:
    load = r["load"]
    s = r["summary"]
    lines = [
        f"channel-monitor failover latency benchmark, {r['date']}",
        f"machine: {r['machine']}",
        f"code:    {r['code']}; command: {r['command']}",
        f"load:    {load['checks']} http checks ({load['channels']} channels x {load['checks_per_channel']}) every "
        f"{fmt_duration(load['interval_s'])} + fo-a/fo-b/fo-c every {fmt_duration(load['failover_interval_s'])}: "
        f"expected {load['expected_probes_per_s']:g} probes/s; measured {r['probes_per_s']} probes/s (SQLite rows "
        f"{r['db_probes_per_s']}) over {r['window_s']:.0f}s of cycles, {r['missed_runs']} missed runs, "
        f"p99 scheduling lag <= {r['lag_p99_bucket_le_s']} s, service CPU "
        f"{r['service_cpu_pct_of_one_core']:.0f}% of one core, machine {r['machine_cpu_pct']:.0f}% of one core",
        "failover: hold_down 0s, failback_after 0s, settle 0s; fo-a fail_threshold 3 (1 s interval, 500 ms timeout), "
        "recover_threshold 2; promotion 50/30/20 over fo-a/fo-b/fo-c, mode auto, signed webhook to 127.0.0.1",
        "",
        "times from the threshold-crossing result (`at` of the fo-a transition: the start of the probe whose result",
        "crossed the threshold; failover = fo-a down, 3 actions; failback = fo-a up again, 4 actions):",
        f"  {'cycle':5} {'phase':8} {'flip->':>8} {'probes':>6} {'probe':>6} {'crossing':>9} {'plan->':>10} "
        f"{'crossing->':>10} {'crossing->':>10}",
        f"  {'':5} {'':8} {'crossing':>8} {'in 1s':>6} {'took':>6} {'->plan':>9} {'1st ack':>10} {'1st ack':>10} {'last ack':>10}",
    ]
    for c in r["cycles"]:
        for kind in ("failover", "failback"):
            if kind not in c:
                continue
            p = c[kind]
            load_ = p["probes_started_in_second_before"]
            lines.append(
                f"  {c['cycle']:<5} {kind:8} {p['detect_s']:>7.2f}s {'-' if load_ is None else load_:>6} "
                f"{ms(p['crossing_probe_s']):>6} {ms(p['crossing_to_plan_s']):>9} {ms(p['plan_to_first_ack_s']):>10} "
                f"{ms(p['first_ack_s']):>10} {ms(p['last_ack_s']):>10}{note(p)}"
            )
        if "error" in c:
            lines.append(f"  {c['cycle']:<5} {c['error']}")
    for kind in ("failover", "failback"):
        first, last = s.get(f"{kind}_first_ack_s"), s.get(f"{kind}_last_ack_s")
        if first:
            lines.append(
                f"  {kind:9} first ack: median {ms(first['median'])}, max {ms(first['max'])}; "
                f"last ack: median {ms(last['median'])}, max {ms(last['max'])}"
            )
    rcv = r["receiver"]
    lines += [
        "",
        f"  receiver: {rcv['acks']} acknowledged deliveries, {rcv['distinct_keys']} distinct keys, {rcv['rejected']} "
        f"rejected signatures; allocation back to normal at the end: {'yes' if rcv['back_to_normal'] else 'NO'}",
        f"  probes failed other than fo-a's: {r['probe_failures_other_than_fo_a']}; service exit {r['service_exit_code']} "
        f"after {r['shutdown_s']:.2f}s; start-up {r['startup_s']:.1f}s",
    ]
    pre = r["before_cycles"]
    if pre["acks"]:
        causes = ", ".join(f"{d['channel']} {d['cause'].get('error_class')}" for d in pre["downs"])
        lines.append(
            f"  before the first break (start-up): {pre['acks']} actions acknowledged after "
            f"{len(pre['downs'])} fo-* transitions to down ({causes}); not counted above"
        )
    if r["spurious_downs_during_cycles"]:
        causes = ", ".join(f"{d['channel']} {d['cause'].get('error_class')}" for d in r["spurious_downs_during_cycles"])
        lines.append(f"  during the cycles, transitions to down nobody caused: {len(r['spurious_downs_during_cycles'])} ({causes})")
    if r["error"]:
        lines.append(f"  error: {r['error']}")
    first = s.get("failover_first_ack_s")
    verdict = "PASS" if r["pass"] else "FAIL"
    lines += [
        "",
        f"RESULT: threshold-crossing result -> first action acknowledged, max over {len(r['cycles'])} cycles: "
        f"{ms(first['max']) if first else '-'} (median {ms(first['median']) if first else '-'}); "
        f"target < {TARGET_S:g} s: {verdict}",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Failover latency of `channel-monitor run` under run_bench's load, on 127.0.0.1.")
    p.add_argument("--checks", type=int, default=2000, help="background http checks (default 2000; 0: none)")
    p.add_argument("--checks-per-channel", type=int, default=4, help="checks per background channel (default 4)")
    p.add_argument("--interval", type=parse_duration, default=10.0, help="interval of the background checks (default 10s)")
    p.add_argument("--timeout", type=parse_duration, default=5.0, help="timeout of the background checks (default 5s)")
    p.add_argument("--cycles", type=int, default=5, help="break/heal cycles (default 5)")
    p.add_argument(
        "--settle",
        type=parse_duration,
        default=3.0,
        help="before each break: fo-a/b/c up, nothing pending and no delivery for this long (default 3s)",
    )
    p.add_argument("--quiet-timeout", type=parse_duration, default=90.0, help="longest wait for that quiet state (default 90s)")
    p.add_argument("--warmup", type=parse_duration, default=None, help="wait after start-up (default interval + 5s)")
    p.add_argument("--ack-timeout", type=parse_duration, default=30.0, help="longest wait for acknowledgements (default 30s)")
    p.add_argument("--db-timeout", type=parse_duration, default=10.0, help="longest wait for a row in the database (default 10s)")
    p.add_argument("--page-kb", type=float, default=2.0, help="size of the shops' page in KiB (default 2)")
    p.add_argument("--port", type=int, default=0, help="port of the service (default: a free one)")
    run_bench.add_process_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.checks < 0 or args.checks_per_channel < 1 or args.ports < 1 or args.interval <= 0 or args.cycles < 1:
        print("failover_bench: --checks must be >= 0; --checks-per-channel, --ports, --interval and --cycles positive", file=sys.stderr)
        return 2
    if args.warmup is None:
        args.warmup = args.interval + 5.0
    return run_bench.bench_main("failover_bench", args, run, report)


if __name__ == "__main__":
    sys.exit(main())
