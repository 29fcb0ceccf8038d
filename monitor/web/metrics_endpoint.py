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


class MetricsBody:
    """The /metrics text, rendered at most `max_age` seconds before a scrape; scrapes arriving together share one rendering."""

    def __init__(self, render: Callable[[], bytes], max_age: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.render, self.max_age, self.clock = render, max_age, clock
        self.body, self.at = b"", float("-inf")
        self.rendering: asyncio.Future[None] | None = None

    async def get(self) -> bytes:
        """The latest rendering, rendered again first when older than max_age."""
        if self.clock() - self.at > self.max_age:
            if self.rendering is None or self.rendering.done():
                self.rendering = asyncio.ensure_future(self._refresh())
            await asyncio.shield(self.rendering)  # concurrent scrapes wait for the same rendering
        return self.body

    async def _refresh(self) -> None:
        started = self.clock()
        body = await asyncio.to_thread(self.render)
        self.body, self.at = body, started


def metrics_response(body: bytes) -> web.Response:
    """The scrape's answer: text format 0.0.4, uncompressed."""
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
