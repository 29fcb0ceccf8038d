"""Shared helpers for probe tests: a real client session, raw TCP servers and a check runner.

Checks are built through parse_config, so their options are validated exactly as in production,
and run through run_probe, so the runner's deadline and phase reporting are part of every test.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from monitor.config import parse_config
from monitor.runner import CheckResult, run_probe
from probes import PROBES
from probes.guard import NetworkGuard
from probes.session import create_http_session

# Test servers live on loopback, which the SSRF guard blocks unless a config allows it.
LOOPBACK = NetworkGuard(["127.0.0.0/8", "::1/128"])

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def build_check(target: str, *, timeout: str = "2s", interval: str = "5s", **options: Any):
    """Return (channel, check) for one http check, validated by parse_config."""
    check = {"kind": "http", "target": target, "timeout": timeout, "interval": interval, **options}
    text = yaml.safe_dump({"channels": [{"id": "shop", "name": "Shop", "checks": [check]}]}, sort_keys=False)
    config = parse_config(text, PROBES)
    channel = config.channels[0]
    return channel, channel.checks[0]


@pytest.fixture
async def http_session():
    session = create_http_session("test", LOOPBACK)
    yield session
    await session.close()


@pytest.fixture
def run_check(http_session) -> Callable[..., Awaitable[CheckResult]]:
    """run_check(target, timeout=..., **http_options) -> CheckResult, through the real runner."""
    async def run(target: str, **kwargs: Any) -> CheckResult:
        channel, check = build_check(target, **kwargs)
        return await run_probe(PROBES["http"], channel, check, http_session, time.time, LOOPBACK)
    return run


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

