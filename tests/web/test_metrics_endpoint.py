"""/metrics: fresh on every scrape (at most max_age old), shared by scrapes that come together."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from monitor.web import ops
from monitor.web.keys import METRICS
from monitor.web.metrics_endpoint import MetricsBody


async def test_a_scrape_sees_values_at_most_max_age_old(aiohttp_client):
    registry = CollectorRegistry()
    gauge = Gauge("channel_monitor_test_value", "a value", registry=registry)
    now = [100.0]
    app = web.Application()
    app[METRICS] = MetricsBody(lambda: generate_latest(registry), max_age=1.0, clock=lambda: now[0])
    app.router.add_get("/metrics", ops.metrics)
    client = await aiohttp_client(app)

    async def scrape() -> str:
        response = await client.get("/metrics")
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "Content-Encoding" not in response.headers
        return await response.text()

    gauge.set(1)
    assert "channel_monitor_test_value 1.0" in await scrape()
    gauge.set(2)
    now[0] += 0.5
    assert "channel_monitor_test_value 1.0" in await scrape()  # within max_age: the same rendering
    now[0] += 1.0
    assert "channel_monitor_test_value 2.0" in await scrape()  # older: rendered again for this scrape
    gauge.set(3)
    now[0] += 2.0
    together = await asyncio.gather(*(scrape() for _ in range(5)))
    assert all("channel_monitor_test_value 3.0" in t for t in together)
