"""Stopping a background loop politely."""

from __future__ import annotations

import asyncio
from contextlib import suppress


async def finish_or_cancel(task: asyncio.Task | None, grace: float) -> None:
    """Wait up to `grace` seconds for a task that was asked to stop; then cancel it."""
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
