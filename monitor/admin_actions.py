"""Changes people make through the admin API: overrides and maintenance windows, stored first, then applied.

One at a time (a lock shared with approvals and freezes), so that the stored order is the applied order: two
PUTs racing could otherwise leave the last stored override different from the one in force until a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace

from sqlalchemy.engine import Engine

from monitor.channels import ChannelBook, Event
from monitor.health import Override
from monitor.maintenance import Window
from monitor.store.persist import delete_window, save_override, save_window


class AdminActions:
    """Store an admin change, then apply it to the book at once and hand on what it changed."""

    def __init__(
        self,
        engine: Engine,
        book: ChannelBook,
        on_events: Callable[[Iterable[Event]], None],
        clock: Callable[[], float],
        lock: asyncio.Lock,
    ) -> None:
        self.engine = engine
        self.book = book
        self.on_events = on_events
        self.clock = clock
        self.lock = lock

    async def set_override(self, channel: str, override: Override | None) -> None:
        """Force a channel's state (None lifts it)."""
        async with self.lock:
            await asyncio.to_thread(save_override, self.engine, channel, override, self.clock())
            self.on_events(self.book.set_override(channel, override, self.clock()))

    async def add_window(self, channel: str, window: Window) -> int:
        """Add a maintenance window (applied at once if it has begun); return its id, to cancel it."""
        async with self.lock:
            window_id = await asyncio.to_thread(save_window, self.engine, channel, window, self.clock())
            self.on_events(self.book.add_window(channel, replace(window, id=window_id), self.clock()))
            return window_id

    async def remove_window(self, channel: str, window_id: int) -> bool:
        """Cancel a window added through the admin API; False: the channel has no window with that id."""
        async with self.lock:
            window = await asyncio.to_thread(delete_window, self.engine, channel, window_id)
            if window is not None:
                self.on_events(self.book.remove_window(channel, window, self.clock()))
            return window is not None
