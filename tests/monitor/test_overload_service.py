"""An overloaded monitor must never report a false outage: healthy shops stay up while the monitor cannot keep
up, the overload is reported (metric, /api/channels, /healthz, status page, alert), and it recovers by itself."""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry

from monitor.app import create_app
from monitor.registries import Registries
from monitor.running import MONITOR
from probes.base import ProbeConfig, ProbeKind, ProbeResult
from tests.fakes import FakeChannel, FakeClock, eventually, serve
from tests.support.config import channel, config, shop_channel
from tests.support.service import incidents, let_time_pass


class Hog:
    """A probe kind that blocks the event loop while `burning` (CPU-bound work the monitor cannot keep up with:
    what thousands more checks than the machine can run do to every other probe)."""

    def __init__(self) -> None:
        self.burning = False
        self.runs = 0

    async def run(self, target: str, options: ProbeConfig, ctx) -> ProbeResult:
        self.runs += 1
        if self.burning:
            time.sleep(0.45)  # noqa: ASYNC251 - the point: the event loop is blocked
        return ProbeResult(ok=True)


async def test_healthy_shops_stay_up_while_the_monitor_is_overloaded_and_it_recovers(tmp_path, aiohttp_server, aiohttp_client, caplog):
    caplog.set_level(logging.INFO, logger="monitor.alerts")
    shops = [await serve(aiohttp_server, FakeChannel()) for _ in range(5)]
    hog = Hog()
    kinds = Registries(probes={**Registries().probes, "hog": ProbeKind(ProbeConfig, hog.run, lambda t: t)})
    channels = [shop_channel(f"shop-{i}", shop.url) for i, shop in enumerate(shops)]
    channels += [
        channel(f"load-{i}", checks=[{"kind": "hog", "target": f"x{i}", "interval": "500ms", "timeout": "490ms"}]) for i in range(3)
    ]
    clock = FakeClock()
    registry = CollectorRegistry()
    app = create_app(
        config(channels, data_dir=tmp_path, registries=kinds), registries=kinds, registry=registry, clock=clock, flush_interval=0.05
    )
    client = await aiohttp_client(app)
    monitor = app[MONITOR]
    shop_ids = [f"shop-{i}" for i in range(5)]
    await eventually(lambda: all(monitor.book.health[c].state.value == "up" for c in shop_ids), timeout=10)

    hog.burning = True  # the loop is blocked ~90 % of the time: every shop probe now runs out of its 150 ms
    seen_states: set[str] = set()

    async def overloaded() -> bool:
        seen_states.update(monitor.book.health[c].state.value for c in shop_ids)
        clock.advance(0.25)  # the service's clock moves on too: skipping must last several seconds to count
        return monitor.book.overload.overloaded

    await eventually(overloaded, timeout=10)
    for _ in range(20):  # keep it overloaded a while: 4 s of probes that would fail against answering shops
        seen_states.update(monitor.book.health[c].state.value for c in shop_ids)
        clock.advance(0.25)
        await asyncio.sleep(0.2)
    assert seen_states == {"up"}, "a healthy shop went down because the monitor was overloaded"
    assert registry.get_sample_value("channel_monitor_overloaded") == 1
    stalled = registry.get_sample_value("channel_monitor_scheduler_skipped_runs_total", {"why": "stalled"})
    late = registry.get_sample_value("channel_monitor_scheduler_skipped_runs_total", {"why": "late"})
    assert (stalled or 0) + (late or 0) >= 3

    body = await (await client.get("/api/channels")).json()
    assert body["connectivity"]["overloaded"] is True
    assert "could not start on time" in body["connectivity"]["overload_reason"]
    health = await (await client.get("/healthz")).json()
    assert health["overloaded"] is True
    page = await (await client.get("/")).text()
    assert 'id="overloaded"' in page and "The monitor is overloaded" in page
    summary = await (await client.get("/api/v2/status.json")).json()
    assert summary["status"] == {"indicator": "critical", "description": "Monitor Overloaded"}

    hog.burning = False  # the load drops: no more skipped runs
    await asyncio.sleep(1.0)
    await let_time_pass(app, 31)  # clear_after (30 s) with nothing skipped
    assert not monitor.book.overload.overloaded
    assert registry.get_sample_value("channel_monitor_overloaded") == 0
    await eventually(lambda: all(monitor.book.health[c].state.value == "up" for c in shop_ids))
    await monitor.writer.flush()
    assert incidents(app) == []  # no outage was ever recorded
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.alerts"]
    assert any(m.startswith("The monitor is overloaded; failures do not count: ") for m in said), said
    assert any(m.startswith("The monitor keeps up again: ") for m in said), said
