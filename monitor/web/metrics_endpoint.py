"""/metrics served from a rendering kept in memory, so a scrape never waits for thousands of samples.

Rendering the exposition of 2,000 checks takes a few hundred milliseconds of Python; a scrape that did
it each time would be slow and would hold up the event loop's other work. Instead the text is rendered
in a thread at most every `max_age` seconds and served from memory: a scrape gets figures at most that
old (far below a usual 15 s scrape interval) in about a millisecond. The first scrape renders once.
The text format is 0.0.4, which every Prometheus version reads (our names need no escaping).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4


def metrics_handler(registry: CollectorRegistry, max_age: float = 2.0,
                    clock: Callable[[], float] = time.monotonic) -> Callable[[web.Request], object]:
    """An aiohttp handler serving `registry` rendered at most `max_age` seconds ago."""
    state: dict = {"body": None, "at": 0.0, "task": None}

    async def render() -> None:
        body = await asyncio.to_thread(generate_latest, registry)
        state["body"], state["at"] = body, clock()

    async def handler(_request: web.Request) -> web.Response:
        if state["body"] is None:
            await render()  # the very first scrape
        elif clock() - state["at"] > max_age and (state["task"] is None or state["task"].done()):
            state["task"] = asyncio.create_task(render(), name="metrics-render")  # the next scrape gets it
        return web.Response(body=state["body"], headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return handler
