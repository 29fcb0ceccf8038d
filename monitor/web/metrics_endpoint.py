"""/metrics: rendered on the event loop, without compression, and reused for scrapes within a second.

The per-check samples are kept as ready-made lines (monitor/metric_table.py), so a rendering is one bytes
join: ~10 ms at 10,000 checks (9 MB). Done on the event loop, which is the only writer of the samples: a
thread gained nothing once rendering was this cheap, and cost a lot. It competed for the GIL with the probes
(a 60 ms rendering took 300-900 ms of wall time in bench/run_bench.py at 10,000 checks), and its big
buffers grew a malloc arena of its own (+50-90 MB of peak RSS). Scrapes within `max_age` share one
rendering. prometheus-client's own aiohttp handler gzips when asked, which cost ten times the rendering
itself (780 ms CPU for 882 KiB at 2,000 checks); a scrape over loopback or a LAN gains nothing from it.
The text format is 0.0.4, which every Prometheus reads (our names need no escaping).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


class MetricsBody:
    """The /metrics text, rendered at most `max_age` seconds before a scrape."""

    def __init__(self, render: Callable[[], bytes], max_age: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.render, self.max_age, self.clock = render, max_age, clock
        self.body, self.at = b"", float("-inf")

    async def get(self) -> bytes:
        """The latest rendering, rendered again first when older than max_age."""
        now = self.clock()
        if now - self.at > self.max_age:
            self.body = b""  # the old text goes before the new one is made: one body in memory, not two
            self.body, self.at = self.render(), now
        return self.body


async def send_metrics(request: web.Request, body: bytes, chunk: int = 1 << 20) -> web.StreamResponse:
    """The scrape's answer: text format 0.0.4, uncompressed, written a megabyte at a time. At 10,000 checks the
    body is 9 MB, more than a socket takes at once: written whole, the transport would copy what the socket did
    not take into a buffer of its own (a second body, +9 MB of peak RSS); chunk by chunk, it holds one chunk."""
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
    response.content_length = len(body)
    await response.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), chunk):
        await response.write(view[start : start + chunk])
    await response.write_eof()
    return response
