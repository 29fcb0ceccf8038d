"""/metrics from memory: rendered at most every max_age seconds, never in the scrape's way after the first."""
from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from monitor.web.metrics_endpoint import metrics_handler


async def test_scrapes_are_served_from_the_last_rendering_and_refreshed_behind(aiohttp_client):
    registry = CollectorRegistry()
    gauge = Gauge("channel_monitor_test_value", "a value", registry=registry)
    now = [100.0]
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(registry, max_age=2.0, clock=lambda: now[0]))
    client = await aiohttp_client(app)

    async def scrape() -> str:
        response = await client.get("/metrics")
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return await response.text()

    gauge.set(1)
    assert "channel_monitor_test_value 1.0" in await scrape()   # the first scrape renders
    gauge.set(2)
    now[0] += 1.0
    assert "channel_monitor_test_value 1.0" in await scrape()   # fresh enough: served from memory
    now[0] += 1.5
    assert "channel_monitor_test_value 1.0" in await scrape()   # stale: served, and a rendering starts
    for _ in range(100):                                         # the next scrapes get the new rendering
        text = await scrape()
        if "channel_monitor_test_value 2.0" in text:
            break
        await asyncio.sleep(0.02)
    assert "channel_monitor_test_value 2.0" in text
