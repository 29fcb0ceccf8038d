"""Fixtures of the probe tests: a real client session, raw TCP servers, and a check runner for every
probe kind (probe_runner); their helpers (build_check, config text and errors, resolver fakes) are in
tests/support/probes.py.

Checks are built through parse_config, so their options are validated exactly as in production,
and run through run_probe, so the runner's deadline and phase reporting are part of every test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from monitor.runner import CheckResult, run_probe
from probes import PROBES
from probes.guard import NetworkGuard
from probes.session import create_http_session
from tests.fakes import LOOPBACK
from tests.support.probes import build_check

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def http_session():
    session = create_http_session("test", LOOPBACK)
    yield session
    await session.close()


@pytest.fixture
def probe_runner(http_session) -> Callable[..., Awaitable[CheckResult]]:
    """probe_runner(kind, target, *, guard=LOOPBACK, session=None, **options) -> CheckResult, through the real runner.

    options are build_check's (timeout, interval, channel_id, ...) and the kind's own; session
    replaces the test session (http_session) for tests that need a differently guarded one.
    """

    async def run(
        kind: str, target: str, *, guard: NetworkGuard = LOOPBACK, session: aiohttp.ClientSession | None = None, **options: Any
    ) -> CheckResult:
        channel, check = build_check(target, kind=kind, **options)
        session = http_session if session is None else session
        return await run_probe(PROBES[kind], channel, check, session, time.time, guard)

    return run


@pytest.fixture
def run_check(probe_runner) -> Callable[..., Awaitable[CheckResult]]:
    """run_check(target, timeout=..., **http_options) -> CheckResult, through the real runner."""
    return functools.partial(probe_runner, "http")


@pytest.fixture
async def start_server():
    """start_server(handle, host="127.0.0.1", **start_server_kwargs) -> port of an asyncio server, closed at teardown."""
    servers: list[asyncio.Server] = []

    async def start(handle: RawHandler, host: str = "127.0.0.1", **kwargs: Any) -> int:
        server = await asyncio.start_server(handle, host, 0, **kwargs)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def raw_server():
    """raw_server(handler) -> base URL of an asyncio TCP server on 127.0.0.1 for misbehaving peers.

    Handlers that never finish (hang, drip) are cancelled at teardown.
    """
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def start(handler: RawHandler) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tasks.add(asyncio.current_task())
            writers.add(writer)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass  # the client gave up, which is what most of these tests provoke
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/"

    yield start
    for server in servers:
        server.close()
    for writer in writers:
        writer.close()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task
    for server in servers:
        await server.wait_closed()
