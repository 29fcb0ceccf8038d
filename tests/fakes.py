"""Loopback fakes shared by tests: a controllable sales channel and a polling helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from alerts.base import Alert, Batch, Delivery, Notifier, NotifyError, Thread
from probes.guard import NetworkGuard

# What tests' notifiers and actuators may reach: their fake receivers on loopback (as allow_networks would).
LOOPBACK = NetworkGuard(["127.0.0.0/8", "::1/128"])


class FakeChannel:
    """An HTTP target on 127.0.0.1 whose answer a test can change: ok, error, hang, alternate (503 and 200 in
    turn: a flapping channel), or custom."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.body = "<h1>Shop</h1><button>Add to cart</button>"
        self.hits = 0
        self.app = web.Application()
        self.app.router.add_get("/", self.handle)

    async def handle(self, _request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "error" or (self.mode == "alternate" and self.hits % 2):
            return web.Response(status=503, text="unavailable")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        return web.Response(text=self.body, content_type="text/html")


async def eventually(predicate: Callable[[], object], timeout: float = 8.0, interval: float = 0.05):
    """Poll until predicate() is truthy; fail the test with a clear message after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


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
