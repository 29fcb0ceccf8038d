#!/usr/bin/env python3
"""channel-monitor and Prometheus + blackbox_exporter side by side: the same loopback shops, the same load.

    .venv/bin/python bench/side_by_side.py                   # 2000 checks every 10 s, 60 s window each
    .venv/bin/python bench/side_by_side.py --checks 100 --interval 5s --duration 15s
    .venv/bin/python bench/side_by_side.py --json            # one JSON object on stdout, progress on stderr
    .venv/bin/python bench/side_by_side.py --only theirs     # one side only (no ratios)

Needs Debian's packages for the other side: apt-get install prometheus prometheus-blackbox-exporter
(/usr/bin/prometheus and /usr/bin/prometheus-blackbox-exporter).

What it does, in order, in one sitting (bench/README.md explains every figure):

1. starts bench/run_bench.py's simulated shops once, in their own process: a few 127.0.0.1 ports
   answering every GET with 200 and a 2 KiB product page containing "Add to cart";
2. writes run_bench's config (N http checks = channels x 4, body_contains "Add to cart",
   body_not_contains "captcha", the interval and timeout given) and takes its N target URLs;
3. ours: starts `channel-monitor run` as users do, waits for /healthz and the warm-up (one interval
   + 5 s), then measures a window: /metrics before and after (probes and failures counters),
   utime+stime of the service process from /proc/PID/stat between the two scrapes, VmHWM at the
   end; SIGTERM;
4. theirs: starts /usr/bin/prometheus-blackbox-exporter (one http module: 2xx, preferred_ip_protocol
   ip4, fail_if_body_not_matches_regexp "Add to cart", fail_if_body_matches_regexp "captcha", the same
   timeout) and /usr/bin/prometheus scraping blackbox's /probe for the same N URLs (one scrape config,
   relabelled as in blackbox's README, scrape_interval = the interval, scrape_timeout = the timeout,
   storage in the temporary directory), waits for both to be ready and the same warm-up, then measures
   a window of the same length: utime+stime of BOTH processes from /proc, their VmHWM summed, and
   from Prometheus' query API the probes whose scrape started in the window (samples of
   `up{job="blackbox"}`) and how many of them failed (up == 0 or probe_success == 0);
5. prints figure | channel-monitor | Prometheus+blackbox | ratio (theirs / ours).

Every wait is bounded, only 127.0.0.1 is used, every child gets SIGTERM then SIGKILL in `finally`
and dies with this script (PR_SET_PDEATHSIG). Exit status 0 when every measured side ran the
intended load (probe rate within 1 % of checks / interval, no failed probe), 1 when one did not,
2 when the benchmark could not run (for example a missing package).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import run_bench  # noqa: E402  (the load benchmark: shops, config, service start, scraping, /proc helpers)
from run_bench import BenchError, fmt_duration, parse_duration  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
INSTALL = "apt-get install prometheus prometheus-blackbox-exporter"
MODULE = "http_2xx_cart"
JOB = "blackbox"
CHECKS_PER_CHANNEL = 4  # run_bench's default: 500 channels x 4 for 2000 checks


# --------------------------------------------------------------------------- helpers


def go_duration(seconds: float) -> str:
    """A duration both Prometheus (integers per unit only) and blackbox (Go time.Duration) accept."""
    return f"{max(1, round(seconds * 1000))}ms"


def check_binaries(args: argparse.Namespace) -> None:
    if args.only == "ours":
        return
    missing = [
        (path, pkg)
        for path, pkg in ((PROMETHEUS, "prometheus"), (BLACKBOX, "prometheus-blackbox-exporter"))
        if not os.access(path, os.X_OK)
    ]
    if missing:
        names = ", ".join(f"{path} (Debian package {pkg})" for path, pkg in missing)
        raise BenchError(f"missing {names}; install with: {INSTALL}  (or run --only ours)")


def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def start_daemon(cmd: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    with open(log, "wb") as log_file:
        return subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            preexec_fn=run_bench._die_with_parent,
            start_new_session=True,
        )


def wait_http(name: str, proc: subprocess.Popen, url: str, timeout: float, log: Path) -> float:
    """Poll url until it answers 200; fail fast if the process exits. Returns the seconds it took."""
    start = time.monotonic()
    for _ in range(int(timeout / 0.2) + 2):  # bounded
        if time.monotonic() - start > timeout:
            break
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode} during start-up:\n{run_bench.tail(log)}")
        try:
            status, _ = run_bench.http_get(url, 2.0)
            if status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{name} did not answer {url} within {timeout:g}s:\n{run_bench.tail(log)}")


def snapshot(pids: list[int], shops_pid: int) -> dict:
    """CPU (user, system) of each pid, the shops' CPU, the machine's busy jiffies and the wall time."""
    return {
        "cpu": [run_bench.proc_cpu_split(pid) for pid in pids],
        "shops": run_bench.proc_cpu_seconds(shops_pid),
        "busy": run_bench.machine_busy(),
        "t": time.time(),
    }


def window_figures(s0: dict, s1: dict, probes: float, pids: list[int]) -> dict:
    """Figures shared by both sides: CPU of the measured processes together, per probe, peak RSS summed."""
    wall = s1["t"] - s0["t"]
    user = sum(c1[0] - c0[0] for c0, c1 in zip(s0["cpu"], s1["cpu"]))
    system = sum(c1[1] - c0[1] for c0, c1 in zip(s0["cpu"], s1["cpu"]))
    cpu = user + system
    hwm = [run_bench.proc_status_kb(pid, "VmHWM") for pid in pids]
    shops = s1["shops"] - s0["shops"]
    machine = (s1["busy"][0] - s0["busy"][0]) / max(1, s1["busy"][1] - s0["busy"][1]) * len(os.sched_getaffinity(0)) * 100
    return {
        "cpu_s": round(cpu, 3),
        "cpu_user_s": round(user, 3),
        "cpu_system_s": round(system, 3),
        "cpu_ms_per_probe": round(cpu / probes * 1000, 4) if probes else None,
        "cpu_pct_of_one_core": round(cpu / wall * 100, 1),
        "peak_rss_mib": round(sum(hwm) / 1024, 1),
        "peak_rss_mib_each": [round(kb / 1024, 1) for kb in hwm],
        "shops_cpu_pct_of_one_core": round(shops / wall * 100, 1),
        "machine_cpu_pct": round(machine, 1),
        "other_processes_cpu_pct": round(max(0.0, machine - (cpu + shops) / wall * 100), 1),
    }


def valid(side: dict, expected_rate: float) -> bool:
    return side["failed_probes"] == 0 and side["probes_per_s"] >= expected_rate * (1 - run_bench.RATE_TOLERANCE)


# --------------------------------------------------------------------------- ours


def measure_ours(args: argparse.Namespace, say, workdir: Path, config_path: Path, shops: subprocess.Popen) -> dict:
    log = workdir / "service.log"
    service = None
    try:
        service, base, cmd = run_bench.start_service(args, config_path, workdir, run_bench.free_port())
        say(f"ours: channel-monitor pid {service.pid}: {cmd}")
        startup = wait_http("channel-monitor", service, base + "/healthz", args.startup_timeout, log)
        say(f"ours: ready after {startup:.1f}s; warming up {args.warmup:g}s")
        children = {"service": service, "shops": shops}
        run_bench.sleep_watching(args.warmup, children, log)

        say(f"ours: measuring for {args.duration:g}s ...")
        m0 = run_bench.scrape(base)
        s0 = snapshot([service.pid], shops.pid)
        run_bench.sleep_watching(args.duration, children, log)
        s1 = snapshot([service.pid], shops.pid)
        m1 = run_bench.scrape(base)
        window = m1["at"] - m0["at"]
        probes = run_bench.total(m1, "channel_monitor_probes_total") - run_bench.total(m0, "channel_monitor_probes_total")
        failed = run_bench.total(m1, "channel_monitor_probe_failures_total") - run_bench.total(m0, "channel_monitor_probe_failures_total")
        # CPU per probe: the probes counted over the scrapes' window, scaled to the CPU window (as run_bench does)
        figures = window_figures(s0, s1, probes / window * (s1["t"] - s0["t"]), [service.pid])
        exit_code, shutdown_s = run_bench.stop_process(service, args.stop_timeout)
        if exit_code != 0:
            say(f"ours: warning: channel-monitor exited with {exit_code} after SIGTERM:\n{run_bench.tail(log)}")
        return {
            "command": cmd,
            "startup_s": round(startup, 2),
            "window_s": round(window, 3),
            "probes": int(probes),
            "probes_per_s": round(probes / window, 2),
            "probes_counted_by": "increase of channel_monitor_probes_total between two /metrics scrapes / time between them",
            "failed_probes": int(failed),
            **figures,
            "exit_code": exit_code,
        }
    finally:
        run_bench.stop_process(service, args.stop_timeout)


# --------------------------------------------------------------------------- theirs


def write_theirs_configs(workdir: Path, args: argparse.Namespace, targets: list[str], bb_port: int) -> tuple[Path, Path]:
    import yaml

    timeout = go_duration(min(args.timeout, args.interval))
    blackbox = {
        "modules": {
            MODULE: {
                "prober": "http",
                "timeout": timeout,
                "http": {
                    "preferred_ip_protocol": "ip4",
                    "ip_protocol_fallback": False,
                    "fail_if_body_not_matches_regexp": ["Add to cart"],
                    "fail_if_body_matches_regexp": ["captcha"],  # channel-monitor's body_not_contains
                },
            }
        }
    }
    prometheus = {
        "global": {"scrape_interval": go_duration(args.interval), "scrape_timeout": timeout, "evaluation_interval": "1m"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/probe",
                "params": {"module": [MODULE]},
                "static_configs": [{"targets": targets}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": f"127.0.0.1:{bb_port}"},
                ],
            }
        ],
    }
    bb_path, prom_path = workdir / "blackbox.yml", workdir / "prometheus.yml"
    header = "# generated by bench/side_by_side.py\n"
    bb_path.write_text(header + yaml.safe_dump(blackbox, sort_keys=False), encoding="utf-8")
    prom_path.write_text(header + yaml.safe_dump(prometheus, sort_keys=False), encoding="utf-8")
    return bb_path, prom_path


def prom_query(base: str, expr: str, at: float | None = None) -> float:
    """Sum of the values of an instant query (0 for an empty vector)."""
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    status, body = run_bench.http_get(base + "/api/v1/query?" + urllib.parse.urlencode(params), 30.0)
    try:
        data = json.loads(body)
    except ValueError:
        data = {}
    if status != 200 or data.get("status") != "success":
        raise BenchError(f"Prometheus query {expr!r} answered HTTP {status}: {body[:300]!r}")
    result = data["data"]["result"]
    if data["data"]["resultType"] == "scalar":
        return float(result[1])
    return sum(float(r["value"][1]) for r in result)


def measure_theirs(args: argparse.Namespace, say, workdir: Path, targets: list[str], shops: subprocess.Popen) -> dict:
    bb_port, prom_port = run_bench.free_port(), run_bench.free_port()
    bb_path, prom_path = write_theirs_configs(workdir, args, targets, bb_port)
    bb_base, prom_base = f"http://127.0.0.1:{bb_port}", f"http://127.0.0.1:{prom_port}"
    bb_log, prom_log = workdir / "blackbox.log", workdir / "prometheus.log"
    bb = prom = None
    try:
        bb_cmd = [BLACKBOX, f"--config.file={bb_path}", f"--web.listen-address=127.0.0.1:{bb_port}"]
        bb = start_daemon(bb_cmd, bb_log, workdir)
        say(f"theirs: blackbox_exporter pid {bb.pid}: {' '.join(bb_cmd)}")
        wait_http("prometheus-blackbox-exporter", bb, bb_base + "/-/healthy", args.startup_timeout, bb_log)
        prom_cmd = [
            PROMETHEUS,
            f"--config.file={prom_path}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        prom = start_daemon(prom_cmd, prom_log, workdir)
        say(f"theirs: prometheus pid {prom.pid}: {' '.join(prom_cmd)}")
        startup = wait_http("prometheus", prom, prom_base + "/-/ready", args.startup_timeout, prom_log)
        say(f"theirs: ready after {startup:.1f}s; warming up {args.warmup:g}s")
        children = {"prometheus": prom, "blackbox_exporter": bb, "shops": shops}
        run_bench.sleep_watching(args.warmup, children, prom_log)

        say(f"theirs: measuring for {args.duration:g}s ...")
        # Both processes' own /metrics, read outside the CPU window (as ours' scrapes are)
        p0, b0 = run_bench.scrape(prom_base, None), run_bench.scrape(bb_base, None)
        s0 = snapshot([prom.pid, bb.pid], shops.pid)
        run_bench.sleep_watching(args.duration, children, prom_log)
        s1 = snapshot([prom.pid, bb.pid], shops.pid)
        p1, b1 = run_bench.scrape(prom_base, None), run_bench.scrape(bb_base, None)
        t0, t1 = s0["t"], s1["t"]
        window = t1 - t0

        # Probes in the window: scrapes of /probe that STARTED in (t1 - window, t1] and were stored. A
        # scrape started just before t1 is stored when it ends (at most the timeout later): wait for it.
        run_bench.sleep_watching(min(args.timeout, args.interval) + 2.0, children, prom_log)
        rng = f"[{max(1, round(window * 1000))}ms]"
        sel = f'{{job="{JOB}"}}'
        probes = prom_query(prom_base, f"sum(count_over_time(up{sel}{rng}))", t1)
        scrapes_ok = prom_query(prom_base, f"sum(sum_over_time(up{sel}{rng}))", t1)
        probes_ok = prom_query(prom_base, f"sum(sum_over_time(probe_success{sel}{rng}))", t1)
        samples_per_scrape = prom_query(prom_base, f"avg(avg_over_time(scrape_samples_scraped{sel}{rng}))", t1)
        failing_at_end = prom_query(prom_base, f"count(probe_success{sel} == 0)")
        down_at_end = prom_query(prom_base, f"count(up{sel} == 0)")
        figures = window_figures(s0, s1, probes, [prom.pid, bb.pid])

        def delta(a: dict, b: dict, name: str, **labels: str) -> float:
            def pick(m: dict) -> float:
                return sum(v for n, lab, v in m["samples"] if n == name and all(lab.get(k) == x for k, x in labels.items()))

            return pick(b) - pick(a)

        interval_obs = delta(p0, p1, "prometheus_target_interval_length_seconds_count")
        dials = delta(b0, b1, "net_conntrack_dialer_conn_attempted_total", dialer_name="http_probe")
        between = p1["at"] - p0["at"]
        return {
            "commands": [" ".join(bb_cmd), " ".join(prom_cmd)],
            "versions": {"prometheus": version([PROMETHEUS, "--version"]), "blackbox_exporter": version([BLACKBOX, "--version"])},
            "startup_s": round(startup, 2),
            "window_s": round(window, 3),
            "probes": int(probes),
            "probes_per_s": round(probes / window, 2),
            "probes_counted_by": 'samples of up{job="blackbox"} (one per /probe scrape) with timestamps in the window, '
            "from Prometheus' query API: sum(count_over_time(up[window])) at the window's end",
            "failed_probes": int(round(probes - probes_ok)),
            "failed_scrapes": int(round(probes - scrapes_ok)),
            "failed_probes_counted_by": "scrapes in the window minus sum_over_time(probe_success[window]): up == 0 or probe_success == 0",
            "targets_failing_at_end": int(failing_at_end),
            "targets_down_at_end": int(down_at_end),
            "samples_per_scrape": round(samples_per_scrape, 1),
            "cross_checks": {
                "prometheus_target_interval_length_seconds_count_per_s": round(interval_obs / between, 2),
                "blackbox_http_probe_dials_per_s": round(dials / (b1["at"] - b0["at"]), 2),
            },
            "processes": ["prometheus", "prometheus-blackbox-exporter"],
            **figures,
        }
    finally:
        run_bench.stop_process(prom, args.stop_timeout)
        run_bench.stop_process(bb, args.stop_timeout)


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace, say) -> dict:
    check_binaries(args)
    args.checks_per_channel = CHECKS_PER_CHANNEL
    workdir = Path(args.tmpdir or tempfile.mkdtemp(prefix="cm-side-by-side-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shops = None
    try:
        sides = 1 if args.only else 2
        max_life = sides * (args.startup_timeout + args.warmup + args.duration + args.timeout + args.stop_timeout + 30) + 120
        shops, ports = run_bench.start_shops(args.ports, max_life, args.page_kb)
        say(
            f"shops: pid {shops.pid}, 127.0.0.1 ports {', '.join(map(str, ports))}, {len(run_bench.page(args.page_kb)) / 1024:.1f} KiB page"
        )

        import yaml

        config_path = workdir / "bench.yaml"
        n_channels, n_checks = run_bench.write_config(config_path, args, ports)
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        targets = [check["target"] for channel in config["channels"] for check in channel["checks"]]
        expected = n_checks / args.interval
        timeout = min(args.timeout, args.interval)
        say(
            f"load: {n_checks} URLs ({n_channels} channels x {CHECKS_PER_CHANNEL} for channel-monitor), every "
            f"{fmt_duration(args.interval)}, timeout {fmt_duration(timeout)}: expected {expected:g} probes/s"
        )

        result: dict = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": run_bench.machine_description(),
            "code": run_bench.code_version(),
            "command": run_bench.command_line(),
            "load": {
                "checks": n_checks,
                "interval_s": args.interval,
                "timeout_s": timeout,
                "expected_probes_per_s": expected,
                "shop_ports": len(ports),
                "page_bytes": len(run_bench.page(args.page_kb)),
                "warmup_s": args.warmup,
                "window_s": args.duration,
            },
            "ours": None,
            "theirs": None,
        }
        if args.only != "theirs":
            result["ours"] = measure_ours(args, say, workdir, config_path, shops)
        if args.only != "ours":
            result["theirs"] = measure_theirs(args, say, workdir, targets, shops)
        ours, theirs = result["ours"], result["theirs"]
        if ours and theirs:
            result["ratios_theirs_over_ours"] = {k: ratio(theirs[k], ours[k]) for k, *_ in FIGURES}
        result["valid"] = {side: valid(r, expected) for side, r in (("ours", ours), ("theirs", theirs)) if r}
        result["pass"] = all(result["valid"].values())
        return result
    finally:
        run_bench.stop_process(shops, 10.0)
        if shops is not None and shops.stdout:
            shops.stdout.close()
        if args.keep or args.tmpdir:
            say(f"kept {workdir} (configs, logs, data)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- report

# key, label, format
FIGURES = [
    ("probes_per_s", "probes/s", "{:.1f}"),
    ("cpu_ms_per_probe", "CPU ms per probe", "{:.3f}"),
    ("cpu_pct_of_one_core", "CPU, % of one core", "{:.1f}%"),
    ("peak_rss_mib", "peak RSS (VmHWM) MiB", "{:.1f}"),
    ("failed_probes", "failed probes", "{:d}"),
]


def ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or ours is None or ours == 0:
        return None
    return round(theirs / ours, 3)


def report(r: dict) -> str:
    load, ours, theirs = r["load"], r["ours"], r["theirs"]

    def cell(side: dict | None, key: str, fmt: str) -> str:
        if side is None:
            return "-"
        value = side[key]
        return "?" if value is None else fmt.format(value)

    lines = [
        f"channel-monitor vs Prometheus + blackbox_exporter, {r['date']}",
        f"machine: {r['machine']}",
        f"code:    {r['code']}; command: {r['command']}",
        f"load:    {load['checks']} http URLs on {load['shop_ports']} loopback ports, every {fmt_duration(load['interval_s'])}, "
        f"timeout {fmt_duration(load['timeout_s'])}, {load['page_bytes'] / 1024:.1f} KiB page, expected "
        f"{load['expected_probes_per_s']:g} probes/s; each side: {load['warmup_s']:g}s warm-up, then a {load['window_s']:g}s window",
    ]
    if theirs:
        lines.append(f"theirs:  {theirs['versions']['prometheus']}; {theirs['versions']['blackbox_exporter']}")
    lines += ["", f"  {'figure':26} {'channel-monitor':>16} {'Prometheus+blackbox':>20} {'ratio (theirs/ours)':>20}"]
    for key, label, fmt in FIGURES:
        q = ratio(theirs[key], ours[key]) if ours and theirs else None
        lines.append(f"  {label:26} {cell(ours, key, fmt):>16} {cell(theirs, key, fmt):>20} {'-' if q is None else f'{q:.2f}x':>20}")
    lines.append("")
    if ours:
        lines.append(
            f"  ours:   channel-monitor process only; {ours['probes']} probes in {ours['window_s']:.1f}s (metrics counter); "
            f"CPU {ours['cpu_s']:.2f}s ({ours['cpu_user_s']:.2f} user, {ours['cpu_system_s']:.2f} kernel); "
            f"shops {ours['shops_cpu_pct_of_one_core']:.0f}% of a core, other processes {ours['other_processes_cpu_pct']:.0f}%"
        )
    if theirs:
        c = theirs["cross_checks"]
        prom_mib, bb_mib = theirs["peak_rss_mib_each"]
        lines += [
            f"  theirs: prometheus + blackbox_exporter processes together; {theirs['probes']} probes in {theirs['window_s']:.1f}s "
            f'(stored up{{job="{JOB}"}} samples); CPU {theirs["cpu_s"]:.2f}s ({theirs["cpu_user_s"]:.2f} user, '
            f"{theirs['cpu_system_s']:.2f} kernel); peak RSS prometheus {prom_mib:.1f} + blackbox {bb_mib:.1f} MiB; "
            f"shops {theirs['shops_cpu_pct_of_one_core']:.0f}% of a core, other processes {theirs['other_processes_cpu_pct']:.0f}%",
            f"          cross-checks: prometheus_target_interval_length_seconds_count {c['prometheus_target_interval_length_seconds_count_per_s']:.1f}/s, "
            f"blackbox http_probe dials {c['blackbox_http_probe_dials_per_s']:.1f}/s; {theirs['samples_per_scrape']:g} samples stored per probe; "
            f"failed scrapes {theirs['failed_scrapes']}; at the end count(probe_success == 0) = {theirs['targets_failing_at_end']}, "
            f"count(up == 0) = {theirs['targets_down_at_end']}",
        ]
    lines.append("")
    bad = [side for side, ok in r["valid"].items() if not ok]
    lines.append(
        "RESULT: both sides ran the intended load"
        if not bad
        else f"RESULT: the load was not the intended one for {', '.join(bad)} (failed probes, or a probe rate more than 1% short)"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="channel-monitor vs Prometheus + blackbox_exporter against the same loopback shops.")
    p.add_argument("--checks", type=int, default=2000, help="number of URLs / http checks (default 2000)")
    p.add_argument("--interval", type=parse_duration, default=10.0, help="probe interval = scrape_interval (default 10s)")
    p.add_argument("--timeout", type=parse_duration, default=5.0, help="probe timeout = scrape_timeout, at most the interval (default 5s)")
    p.add_argument("--duration", type=parse_duration, default=60.0, help="measurement window of each side (default 60s)")
    p.add_argument("--warmup", type=parse_duration, default=None, help="wait after start-up, each side (default interval + 5s)")
    p.add_argument("--page-kb", type=float, default=2.0, help="size of the shops' product page in KiB (default 2)")
    p.add_argument("--only", choices=("ours", "theirs"), help="run one side only")
    run_bench.add_process_options(p)  # --ports, --monitor, --startup-timeout, --stop-timeout, --tmpdir, --keep, --json
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.checks < 1 or args.ports < 1 or args.interval <= 0 or args.duration <= 0 or args.timeout <= 0:
        print("side_by_side: --checks, --ports, --interval, --duration and --timeout must be positive", file=sys.stderr)
        return 2
    if args.warmup is None:
        args.warmup = args.interval + 5.0
    return run_bench.bench_main("side_by_side", args, run, report)


if __name__ == "__main__":
    sys.exit(main())
