"""Wake-ups across processes: PostgreSQL's NOTIFY after a write, LISTEN in whoever acts on it.

In one process the writer wakes the alert router and the action relay directly. With several processes on one
PostgreSQL (relays apart from the decider), a relay would otherwise only notice new outbox rows at its idle
recheck. `notify` is called inside the transaction that writes the rows, so the wake-up is delivered when, and
only if, that transaction commits; `Listener` holds one connection that LISTENs and calls `on_wake` for each
notification (several in a burst are one wake: the woken loop reads everything due anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection

log = logging.getLogger("monitor.store")
OUTBOX = "channel_monitor_outbox"  # alert and failover action rows were written: relays look
RESULTS = "channel_monitor_results"  # probe results were written: the decider reads them
RETRY = 5.0  # seconds before listening again after the connection broke (meanwhile the loops poll)


def notify(conn: Connection, channel: str = OUTBOX) -> None:
    """Inside a write transaction on PostgreSQL: wake the listeners once it commits (nothing on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Listener:
    """LISTEN on `channel` over its own connection (psycopg, autocommit), calling on_wake for notifications."""

    def __init__(self, conninfo: str, on_wake: Callable[[], None], channel: str = OUTBOX) -> None:
        self.conninfo, self.on_wake, self.channel = conninfo, on_wake, channel
        self.task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.create_task(self._listen(), name=f"listen-{self.channel}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _listen(self) -> None:
        while True:  # the woken loops also poll, so a broken connection only costs latency until it is back
            try:
                await self._once()
            except Exception as exc:
                log.warning("listening for %s stopped (%s); again in %gs", self.channel, exc, RETRY)
            self.listening.clear()
            await asyncio.sleep(RETRY)

    async def _once(self) -> None:
        import psycopg  # the postgres extra: only a PostgreSQL deployment listens

        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel)))
            self.listening.set()
            self.on_wake()  # anything written while it was not listening
            async for _ in conn.notifies():
                self.on_wake()


def conninfo(url: str) -> str:
    """A postgresql:// URL as psycopg takes it (SQLAlchemy's postgresql+psycopg:// spelling too)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url
