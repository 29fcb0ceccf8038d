"""The `channel-monitor` command: run, demo, check-config, probe-once, db upgrade, plan, failover."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence

from monitor import admin_cli, clioptions, clirun, db_cli, demo_cli, failover_cli
from monitor.config import ConfigError, load_config
from monitor.core.durations import format_duration
from monitor.core.http import USER_AGENT
from monitor.core.redact import redact_url
from monitor.registries import Registries
from monitor.report import print_table
from monitor.runner import run_probe
from probes.guard import NetworkGuard
from probes.session import create_http_session

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a command ended by SIGPIPE (git log | head)
SERVE = ("listen", "data_dir", "log_format", "location", "event_loop")  # the options of the running service (run, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="channel-monitor",
        description=(
            "Watch sales channels, record their uptime and alert when they fail. "
            "With no command it runs the built-in demo. --config, --data-dir, --json, --listen and --log-format "
            "may come before or after the command."
        ),
    )
    clioptions.add_all(parser, SERVE + ("config",))
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the service (the built-in demo when no --config is given)")
    clioptions.accept(run, *SERVE, "config", "role", config="YAML config file; without it the simulated demo channels are watched")
    demo = sub.add_parser("demo", help="run the demo, or break/heal/replay its simulated channels")
    clioptions.accept(demo, *SERVE)
    demo_cli.add_actions(demo)
    check = sub.add_parser("check-config", help="validate a config file and exit (2 when it has problems)")
    check.add_argument("file", nargs="?", help="the config file (or --config FILE)")
    clioptions.accept(check, "config")
    once = sub.add_parser("probe-once", help="run every check once and print the results")
    clioptions.accept(once, "config", "json", json="one JSON object per check, for scripts")
    once.add_argument("--channel", action="append", help="only this channel id (repeatable)")
    db_cli.add_actions(sub.add_parser("db", help="database schema: `db upgrade` runs the migrations"))
    failover_cli.add_commands(sub)
    admin_cli.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, so that a reader gone early is caught below and not at exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`channel-monitor failover status | head`): stop quietly, as git does.
        # Whatever is still buffered goes nowhere, so that the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    clioptions.check(parser, args, " ".join(filter(None, [command, getattr(args, "action", None)])))
    config = getattr(args, "config", None)
    if command == "run":
        return clirun.serve(config, args)
    if command == "demo":
        return demo_cli.dispatch(args) if getattr(args, "action", None) else clirun.serve(None, args)
    if command == "db":
        return db_cli.dispatch(args)
    if command in ("override", "maintenance"):
        return admin_cli.dispatch(args)
    if command in ("plan", "failover"):
        return failover_cli.dispatch(args)
    if command == "check-config":
        if (args.file is None) == (config is None):
            parser.error("check-config takes one config file: `check-config FILE` or `check-config --config FILE`")
        return check_config(args.file or config)
    if config is None:
        parser.error("probe-once needs --config FILE")
    return asyncio.run(probe_once(config, args.channel, getattr(args, "json", False)))


def check_config(path: str) -> int:
    """Validate a config file and print a summary or every problem."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{len(exc.problems)} problem(s) in {path}:", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    checks = sum(len(c.checks) for c in config.channels)
    print(f"{path}: OK, {len(config.channels)} channels, {checks} checks")
    print_table(
        ["CHANNEL", "NAME", "CHECK", "KIND", "EVERY", "TARGET"],
        [
            [c.id, c.name, k.id, k.kind, format_duration(k.interval_seconds), redact_url(k.target)]
            for c in config.channels
            for k in c.checks
        ],
    )
    failover = config.failover
    if failover.promotions or failover.notices:
        print(
            f"\nfailover: {len(failover.promotions)} promotions, {len(failover.notices)} notices, "
            f"{len(failover.actuators)} actuators (hold-down {format_duration(failover.timing.hold_down)}, "
            f"failback after {format_duration(failover.timing.failback_after)})"
        )
        print_table(
            ["PROMOTION/NOTICE", "MODE", "CHANNELS"],
            [[p.id, p.mode, ", ".join(p.channels)] for p in failover.promotions]
            + [[n.id, n.mode, f"{n.when_down} down: post on {', '.join(n.post_on)}"] for n in failover.notices],
        )
    return EXIT_OK


async def probe_once(path: str, only: list[str] | None, as_json: bool) -> int:
    """Run every check once, concurrently, and print one line (or JSON object) per check."""
    kinds = Registries()
    try:
        config = load_config(path, kinds)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    channels = [c for c in config.channels if not only or c.id in only]
    if only and not channels:
        print(f"no channel matches {', '.join(only)}; ids in {path}: {', '.join(c.id for c in config.channels)}", file=sys.stderr)
        return EXIT_USAGE
    guard = NetworkGuard(config.allow_networks)
    async with create_http_session(USER_AGENT, guard) as http:
        results = await asyncio.gather(*(run_probe(kinds.probes[k.kind], c, k, http, time.time, guard) for c in channels for k in c.checks))
    if as_json:
        for r in results:
            print(json.dumps(r.as_json(), sort_keys=False))
    else:
        print_table(
            ["CHANNEL", "CHECK", "KIND", "RESULT", "TIME", "WHY"],
            [
                [
                    r.channel,
                    r.check,
                    r.kind,
                    "ok" if r.result.ok else "FAIL",
                    f"{r.duration_seconds * 1000:.0f} ms",
                    "" if r.result.ok else f"{r.result.error_class}: {r.result.error}",
                ]
                for r in results
            ],
        )
        failed = sum(not r.result.ok for r in results)
        print(f"\n{len(results) - failed} of {len(results)} checks passed")
        if results and all(not r.result.ok and (r.result.error_class or "").startswith(("dns_", "connect_")) for r in results):
            print("Every check failed at DNS or connect: is this machine offline, or is its DNS resolver down?")
    return EXIT_OK if all(r.result.ok for r in results) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
