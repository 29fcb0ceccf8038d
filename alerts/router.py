"""Delivers alerts in order from one background task, so a slow notifier never blocks probing."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress

from alerts.base import Alert, Notifier, NotifyError

log = logging.getLogger("monitor.alerts")


class AlertRouter:
    """Queue alerts and hand each one to every notifier, in the order they happened."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)
        self.queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-router")

    def publish(self, alert: Alert) -> None:
        """Queue an alert; never blocks."""
        self.queue.put_nowait(alert)

    async def stop(self) -> None:
        """Deliver what is queued, then stop."""
        if self._task:
            await self.queue.join()
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            alert = await self.queue.get()
            try:
                for notifier in self.notifiers:
                    if not notifier.wants(alert):
                        continue
                    try:
                        await notifier.send(alert)
                    except NotifyError as exc:
                        log.error("%s could not deliver an alert for %s: %s%s", type(notifier).__name__,
                                  alert.channel, exc, " (permanent)" if exc.permanent else "")
            finally:
                self.queue.task_done()
