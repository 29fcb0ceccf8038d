"""A value computed in a thread and kept for a while: the status page's and API's figures from the database."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.service import MonitorService

log = logging.getLogger("monitor.web")


class Cached:
    """A value computed in a thread, again when older than `seconds`.

    A caller waits only for the first value, or one grown too old (nobody asked for a while); otherwise
    it gets the value there is while a refresh runs in the background (one at a time), so a page does not
    wait for the database's sums.
    """

    def __init__(self, seconds: float, compute: Callable[[MonitorService], Any], *, wait_after: float | None = None) -> None:
        self.seconds, self.compute = seconds, compute
        self.wait_after = wait_after if wait_after is not None else 4 * seconds
        self.at: float | None = None
        self.value: Any = None
        self.lock = asyncio.Lock()
        self.refreshing: asyncio.Task | None = None

    async def get(self, service: MonitorService) -> Any:
        if self.age() > self.wait_after:  # none yet, or too old to show: wait for a fresh one
            async with self.lock:
                if self.refreshing is not None:
                    await asyncio.gather(self.refreshing, return_exceptions=True)
                if self.age() > self.wait_after:
                    await self._refresh(service)
        elif self.age() > self.seconds and self.refreshing is None:
            self.refreshing = asyncio.create_task(self._refresh_in_background(service), name="status-page-cache")
        return self.value

    def age(self) -> float:
        return math.inf if self.at is None else time.monotonic() - self.at

    async def _refresh(self, service: MonitorService) -> None:
        self.value = await asyncio.to_thread(self.compute, service)
        self.at = time.monotonic()

    async def _refresh_in_background(self, service: MonitorService) -> None:
        try:
            await self._refresh(service)
        except Exception as exc:  # the database is down, or the service stopping: the next page tries again
            log.warning("status page figures not refreshed: %s", exc)
        finally:
            self.refreshing = None
