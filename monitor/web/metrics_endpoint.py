"""/metrics: rendered in a thread, without compression, and reused for scrapes within a second.

Rendering 2,000 checks' samples takes milliseconds of Python; doing it in a thread keeps the
event loop (probes, pages) going meanwhile, and scrapes that arrive together (two Prometheus servers,
a person's curl) share one rendering. prometheus-client's own aiohttp handler gzips when asked, which
cost ten times the rendering itself (780 ms CPU for 882 KiB at 2,000 checks in bench/run_bench.py); a
scrape over loopback or a LAN gains nothing from it. The text format is 0.0.4, which every Prometheus
reads (our names need no escaping).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


def metrics_handler(render: Callable[[], bytes], max_age: float = 1.0,
                    clock: Callable[[], float] = time.monotonic) -> Callable[[web.Request], object]:
    """An aiohttp handler serving what `render` returns, rendered at most `max_age` seconds before the scrape."""
    state: dict = {"body": b"", "at": float("-inf"), "rendering": None}

    async def refresh() -> None:
        started = clock()
        body = await asyncio.to_thread(render)
        state["body"], state["at"] = body, started

    async def handler(_request: web.Request) -> web.Response:
        if clock() - state["at"] > max_age:
            if state["rendering"] is None or state["rendering"].done():
                state["rendering"] = asyncio.ensure_future(refresh())
            await asyncio.shield(state["rendering"])  # concurrent scrapes wait for the same rendering
        return web.Response(body=state["body"], headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return handler
