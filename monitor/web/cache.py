"""A value computed from the read model and kept for a while: the status page's and API's figures from the database."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("monitor.web")


class Cached:
    """A value computed by an awaited `compute(source)` (the read model reads storage in a thread), again when
    older than `seconds`; each call names its source (the read model).

    A caller waits only for the first value, or one grown too old (nobody asked for a while); otherwise
    it gets the value there is while a refresh runs in the background (one at a time), so a page does not
    wait for the database's sums.

    `sees(source)` (optional) is a set of facts the value must reflect, e.g. each channel down or degraded
    now with the time it became so: a value computed before one of them came true is not shown, the caller
    waits for a fresh one (a page must not print "Down" beside an uptime summed while it was up). That costs
    one refresh per channel going bad, not one per request. `settle(source)` (optional) runs before each
    computation: it makes the database hold what the value must count (the results buffered so far).
    """

    def __init__(
        self,
        seconds: float,
        compute: Callable[[Any], Awaitable[Any]],
        *,
        wait_after: float | None = None,
        sees: Callable[[Any], frozenset] | None = None,
        settle: Callable[[Any], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds, self.compute, self.clock = seconds, compute, clock
        self.wait_after = wait_after if wait_after is not None else 4 * seconds
        self.sees, self.settle = sees, settle
        self.at: float | None = None
        self.value: Any = None
        self.seen: frozenset = frozenset()
        self.lock = asyncio.Lock()
        self.refreshing: asyncio.Task | None = None

    async def get(self, source: Any) -> Any:
        if self.age() > self.wait_after or self.missed(source):  # none yet, too old, or behind: wait for a fresh one
            async with self.lock:
                if self.refreshing is not None:
                    await asyncio.gather(self.refreshing, return_exceptions=True)
                if self.age() > self.wait_after:
                    await self._refresh(source)
                elif self.missed(source):
                    try:
                        await self._refresh(source)
                    except Exception as exc:  # the database is down: the last value rather than no page
                        log.warning("status page figures not refreshed: %s", exc)
                        self.seen = self.sees(source) if self.sees is not None else frozenset()
        elif self.age() > self.seconds and self.refreshing is None:
            self.refreshing = asyncio.create_task(self._refresh_in_background(source), name="status-page-cache")
        return self.value

    def missed(self, source: Any) -> bool:
        """Has something the value must reflect come true since it was computed?"""
        return self.sees is not None and self.at is not None and not self.sees(source) <= self.seen

    def age(self) -> float:
        return math.inf if self.at is None else self.clock() - self.at

    async def _refresh(self, source: Any) -> None:
        seen = self.sees(source) if self.sees is not None else frozenset()
        if self.settle is not None:
            await self.settle(source)
        self.value = await self.compute(source)
        self.at, self.seen = self.clock(), seen

    async def _refresh_in_background(self, source: Any) -> None:
        try:
            await self._refresh(source)
        except Exception as exc:  # the database is down, or the monitor stopping: the next page tries again
            log.warning("status page figures not refreshed: %s", exc)
        finally:
            self.refreshing = None
