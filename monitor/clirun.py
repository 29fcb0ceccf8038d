"""Serving: bind the port, start the monitor, print the URL, stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web
from pydantic import SecretStr

from monitor import clioptions
from monitor.app import create_app
from monitor.config import Config, ConfigError, load_config, parse_listen
from monitor.core.models import SLUG_PATTERN
from monitor.demo import DemoWorld, demo_speed
from monitor.logs import setup_logging
from monitor.store.db import StoreError, make_engine
from monitor.store.leadership import DECIDE, Leadership
from monitor.web.role_app import role_app

log = logging.getLogger("monitor")
ELECT_EVERY = 1.0  # seconds between a standby decider's tries to take the lead
EXIT_LOST_LEADERSHIP = 3
LOCATION = re.compile(SLUG_PATTERN)  # as the config's `location`


def serve(config_path: str | None, args: argparse.Namespace) -> int:
    """Run the service until a signal; return 2 on a start-up problem, 0 on a clean stop."""
    choice = getattr(args, "event_loop", "auto")
    try:
        loop_factory = event_loop_factory(choice)
    except ImportError:
        return _fail("--event-loop uvloop: uvloop is not installed (it has no Windows build); install it or use --event-loop asyncio")
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_serve(config_path, args))
    except KeyboardInterrupt:
        return 0


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop the service runs on. uvloop by default: the same probes cost about 11 % less CPU than on
    asyncio's own loop (bench/README.md, issue 17); asyncio's when asked, or when uvloop is not installed
    (`auto`). None: asyncio's default. Raises ImportError when uvloop is asked for and missing."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def _fail(message: str) -> int:
    print(f"channel-monitor: error: {message}", file=sys.stderr)
    return 2


async def _serve(config_path: str | None, args: argparse.Namespace) -> int:
    demo = None
    if config_path:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    else:
        try:
            demo = DemoWorld(speed=demo_speed(os.environ))
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        await demo.start()
        # The demo has no config file to put an admin token in: it makes one, so that the admin commands
        # (override, maintenance, failover approve/freeze) can be tried; printed below, never logged.
        config = demo.config().model_copy(update={"admin_token": SecretStr(secrets.token_urlsafe(24))})
    config = _apply_overrides(config, args)
    setup_logging(config.log_format)
    host, port = parse_listen(config.listen)
    try:
        sock = _bind(host, port)
    except OSError as exc:
        if demo:
            await demo.stop()
        return _fail(
            f"cannot listen on {config.listen}: {exc.strerror}; stop the other process or choose "
            "another address with --listen (or the listen key)"
        )
    loop_kind = type(asyncio.get_running_loop()).__module__.split(".")[0]
    log.info("event loop: %s", "uvloop" if loop_kind == "uvloop" else "asyncio")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    elected: Leadership | None = None
    if config.role == "decide":
        try:
            elected = await _elect(config, sock, stop)
        except StoreError as exc:
            return _fail(str(exc))
        if elected is None:  # stopped while standing by
            return 0
        sock = _bind(host, port)  # the standby's page closed it
    lost = asyncio.Event()

    def leadership_lost() -> None:
        lost.set()
        stop.set()

    app = create_app(config, demo=demo, leadership=elected, on_leadership_lost=leadership_lost)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
    try:
        await runner.setup()
    except StoreError as exc:
        sock.close()
        if demo:
            await demo.stop()
        if elected is not None:
            elected.release()
        return _fail(str(exc))
    await web.SockSite(runner, sock).start()
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it
    # (full collections took 75-110 ms each in the bench).
    gc.freeze()
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if config.role in ("probe", "relay"):
        print(f"{config.role.capitalize()} ({config.location}): health at http://{shown}:{bound_port}/healthz", flush=True)
    else:
        print(f"Status page: http://{shown}:{bound_port}/" + ("  (demo: simulated channels)" if demo else ""), flush=True)
    if demo and config.admin_token is not None:
        print(f"Admin commands of this demo: export CM_ADMIN_TOKEN={config.admin_token.get_secret_value()}", flush=True)
    await stop.wait()
    log.info("stopping: finishing writes")
    await runner.cleanup()
    if elected is not None:
        elected.engine.dispose()
    log.info("stopped")
    if lost.is_set():
        print(
            "channel-monitor: error: the decider lost its leadership (its database connection broke); restart it to stand by",
            file=sys.stderr,
        )
        return EXIT_LOST_LEADERSHIP
    return 0


async def _elect(config: Config, sock: socket.socket, stop: asyncio.Event) -> Leadership | None:
    """Stand by until this decider leads (None: stopped first). Meanwhile /healthz answers "standby", so an
    orchestrator sees a live process that is not the leader."""
    engine = await asyncio.to_thread(make_engine, config.db_url)
    leadership = Leadership(engine, DECIDE, f"{socket.gethostname()}:{os.getpid()}")
    standby = web.AppRunner(role_app("decide (standby)", lambda: True, lambda: b"", ready=False), handle_signals=False, access_log=None)
    await standby.setup()
    await web.SockSite(standby, sock).start()
    host, port = sock.getsockname()[:2]
    print(f"Decider: health at http://{host}:{port}/healthz (standing by until it leads)", flush=True)
    said = False
    try:
        while not stop.is_set():
            epoch = await asyncio.to_thread(leadership.try_acquire)
            if epoch is not None:
                log.info("decider: leading (epoch %d)", epoch)
                return leadership
            if not said:
                log.info("decider: standing by; another decider leads (taking over within %gs of its end)", ELECT_EVERY)
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ELECT_EVERY)
        engine.dispose()
        return None
    finally:
        await standby.cleanup()


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket before anything starts, so a taken port fails fast."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    updates = {}
    if getattr(args, "listen", None):
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            raise SystemExit(_fail(f"--listen {exc}")) from None
        updates["listen"] = args.listen
    if getattr(args, "data_dir", None):
        try:
            clioptions.database(config, args.data_dir)  # refused with a PostgreSQL database_url: it would be ignored
        except clioptions.UsageError as exc:
            raise SystemExit(_fail(str(exc))) from None
        updates["data_dir"] = args.data_dir
    if getattr(args, "log_format", None):
        updates["log_format"] = args.log_format
    if getattr(args, "role", None):
        updates["role"] = args.role
    if getattr(args, "location", None):
        if not LOCATION.match(args.location):
            raise SystemExit(_fail(f"--location {args.location!r}: use 1 to 64 lower-case letters, digits, '-' or '_', e.g. waw-1"))
        updates["location"] = args.location
    config = config.model_copy(update=updates) if updates else config
    problem = role_problem(config, "--role" if getattr(args, "role", None) else "role")
    if problem:
        raise SystemExit(_fail(problem))
    return config


def role_problem(config: Config, given_by: str) -> str | None:
    """Why this process cannot run its role here (None: it can): every role but `all` shares its work with
    other processes through PostgreSQL."""
    if config.role == "all" or (config.database_url or "").startswith("postgresql"):
        return None
    return (
        f"{given_by} {config.role} needs PostgreSQL: set database_url: postgresql://user:password@host/dbname in the config "
        "(the roles of one service share its database); with SQLite run everything in one process (--role all)"
    )
