"""Loopback fakes shared by tests: a clock the test moves, a controllable sales channel, a recording notifier,
and the bounded poll every wait for real I/O goes through."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

from aiohttp import web

from alerts.base import Alert, Batch, Delivery, Notifier, NotifyError, Thread
from probes.guard import NetworkGuard

# What tests' notifiers and actuators may reach: their fake receivers on loopback (as allow_networks would).
LOOPBACK = NetworkGuard(["127.0.0.0/8", "::1/128"])


class FakeClock:
    """Wall-clock Unix seconds that move only when the test says so: pass it as `clock=` and `advance()` it.

    It starts at the real time (signatures, receivers' replay checks and the pages' "today" stay plausible).
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds`; return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now


async def hang() -> None:
    """Never return (a peer that never answers); ends only when cancelled."""
    await asyncio.Event().wait()


class FakeChannel:
    """An HTTP target on 127.0.0.1 whose answer a test can change: ok, error, hang, alternate (503 and 200 in
    turn: a flapping channel), or custom."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.body = "<h1>Shop</h1><button>Add to cart</button>"
        self.hits = 0
        self.url = ""  # set by whoever serves it
        self.app = web.Application()
        self.app.router.add_get("/", self.handle)

    async def handle(self, _request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "error" or (self.mode == "alternate" and self.hits % 2):
            return web.Response(status=503, text="unavailable")
        if self.mode == "hang":
            await hang()
        return web.Response(text=self.body, content_type="text/html")


async def serve(aiohttp_server, fake: FakeChannel) -> FakeChannel:
    """Serve a FakeChannel on loopback and set its url."""
    fake.url = str((await aiohttp_server(fake.app)).make_url("/"))
    return fake


async def eventually(
    predicate: Callable[[], object], timeout: float = 8.0, interval: float = 0.05, what: str | Callable[[], str] = ""
) -> object:
    """Poll until predicate() (a plain or an async function) is truthy and return its value; fail the test with
    a clear message after timeout. For waits on real I/O: time-driven logic is driven with a FakeClock instead."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"condition not met within {timeout:g}s" + (f": {detail}" if detail else ""))
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], object], timeout: float = 8.0, interval: float = 0.5, what: str = "") -> object:
    """eventually() for synchronous tests (a real server in a subprocess): poll, then fail with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout:g}s" + (f": {what}" if what else ""))
        time.sleep(interval)


class Recorder(Notifier):
    """A notifier that keeps what it is sent (or fails permanently, like a revoked token)."""

    id = "recorder"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Alert] = []
        self.batches: list[Batch] = []
        self.fail = fail

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        if self.fail:
            raise NotifyError("invalid_auth", permanent=True)
        self.batches.append(batch)
        self.sent.extend(batch.alerts)
        return Delivery()


def immediate_alerts(config):
    """The config with alert grouping off, so a test sees each alert as soon as it is stored."""
    return config.model_copy(update={"alerts": config.alerts.model_copy(update={"group_wait": 0.0})})
