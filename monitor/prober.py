"""A prober's share of its location's checks (--role probe), kept by heartbeats in the database.

Every `heartbeat` the prober writes its row (alive, and whether its own "is it us?" guard has tripped), reads
every prober's row and works out which checks are its own (monitor/membership.py: rendezvous hashing over the
live probers of its location). The scheduler runs every check on its fixed phase in every prober; a prober runs
only the checks it owns, so outside a takeover each check runs once per interval in each location. A prober
that dies stops beating; one `heartbeat_timeout` later the others count it out, and their next look (at most a
heartbeat later) takes its checks over. SIGTERM deletes the row: the others take over at their next look.

When the database cannot be reached the prober keeps running what it owned: a check probed twice costs a
request, a check not probed at all is an outage nobody sees.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable

from sqlalchemy.engine import Engine

from monitor.membership import live, owner
from monitor.store import probers

log = logging.getLogger("monitor.prober")


def prober_id(location: str) -> str:
    """Unique per running prober and readable in the table: location, host, pid and a random tail."""
    return f"{location}/{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(3)}"


class Prober:
    """Which of the location's checks this prober runs, as of its last look."""

    def __init__(
        self,
        engine: Engine,
        ident: str,
        location: str,
        keys: Iterable[tuple[str, str]],
        *,
        heartbeat: float,
        timeout: float,
        clock: Callable[[], float],
        lost: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine, self.id, self.location = engine, ident, location
        self.keys = {key: f"{key[0]}/{key[1]}" for key in keys}
        self.heartbeat, self.timeout, self.clock, self.lost = heartbeat, timeout, clock, lost
        self.mine: frozenset[tuple[str, str]] = frozenset()
        self.members: list[str] = []
        self.task: asyncio.Task | None = None

    def owns(self, channel: str, check: str) -> bool:
        return (channel, check) in self.mine

    def look(self) -> None:
        """Beat, read the members, and take this prober's share (blocking: run it in a thread)."""
        now = self.clock()
        probers.beat(self.engine, self.id, self.location, now, self.lost())
        members = live(probers.members(self.engine), self.location, now, self.timeout)
        if self.id not in members:  # its own beat is the freshest there is, whatever the clocks say
            members = sorted([*members, self.id])
        mine = frozenset(key for key, name in self.keys.items() if owner(name, members) == self.id)
        if mine != self.mine or members != self.members:
            log.info("prober %s: %d live in %s, running %d of %d checks", self.id, len(members), self.location, len(mine), len(self.keys))
        self.mine, self.members = mine, members

    async def start(self) -> None:
        """The first look before any check runs (so none runs twice at start), then one every heartbeat."""
        await asyncio.to_thread(self.look)
        self.task = asyncio.create_task(self._run(), name="prober-heartbeat")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await asyncio.to_thread(self.look)
            except Exception as exc:  # the database is away: keep what we had (see the module's doc)
                log.warning("prober %s: heartbeat failed (%s); still running its %d checks", self.id, exc, len(self.mine))

    async def stop(self) -> None:
        """Stop beating and leave: the others take the checks over at their next look."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        try:
            await asyncio.to_thread(probers.leave, self.engine, self.id)
        except Exception as exc:
            log.warning("prober %s: could not leave cleanly (%s); the others take over after %gs", self.id, exc, self.timeout)
