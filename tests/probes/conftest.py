"""Shared helpers for probe tests: a real client session, raw TCP servers, a check runner for every
probe kind (probe_runner), config text and error helpers, and loopback address/resolver fakes.

Checks are built through parse_config, so their options are validated exactly as in production,
and run through run_probe, so the runner's deadline and phase reporting are part of every test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.config import ConfigError, parse_config
from monitor.runner import CheckResult, run_probe
from probes import PROBES
from probes.guard import NetworkGuard
from probes.session import create_http_session

# Test servers live on loopback, which the SSRF guard blocks unless a config allows it.
LOOPBACK = NetworkGuard(["127.0.0.0/8", "::1/128"])
# How the guard explains a refused loopback address.
BLOCKED_LOOPBACK = "is a private, loopback or reserved address (allow it with allow_networks)"

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def build_check(
    target: str,
    *,
    kind: str = "http",
    channel_id: str = "shop",
    channel_name: str = "Shop",
    timeout: str = "2s",
    interval: str = "5s",
    **options: Any,
):
    """Return (channel, check) for one check of the given kind, validated by parse_config."""
    check = {"kind": kind, "target": target, "timeout": timeout, "interval": interval, **options}
    text = yaml.safe_dump({"channels": [{"id": channel_id, "name": channel_name, "checks": [check]}]}, sort_keys=False)
    channel = parse_config(text, PROBES).channels[0]
    return channel, channel.checks[0]


def check_yaml(kind: str, target: str, **options: str) -> str:
    """The config text of one check in channel shop, written by hand so error line numbers are fixed.

    kind is on line 5, target on line 6 and the options (raw YAML values) from line 7 on.
    """
    lines = ["channels:", "  - id: shop", "    name: Shop", "    checks:", f"      - kind: {kind}", f"        target: {target}"]
    return "\n".join(lines + [f"        {key}: {value}" for key, value in options.items()]) + "\n"


def config_error(text: str) -> str:
    """The message of the ConfigError that parse_config raises for text."""
    with pytest.raises(ConfigError) as info:
        parse_config(text, PROBES)
    return str(info.value)


def closed_port() -> int:
    """A loopback port that was just bound and released: nothing listens there now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_resolver(monkeypatch, answer) -> list[tuple[str, int]]:
    """Replace the running loop's getaddrinfo; answer(host, port) returns addrinfo tuples or raises."""
    calls: list[tuple[str, int]] = []

    async def getaddrinfo(host, port, **_kwargs):
        calls.append((host, port))
        return await answer(host, port) if asyncio.iscoroutinefunction(answer) else answer(host, port)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    return calls


def v4(address: str, port: int) -> tuple:
    """An IPv4 TCP addrinfo tuple, as getaddrinfo returns it (for fake_resolver answers)."""
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


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
