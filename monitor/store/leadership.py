"""One active instance of a singleton role (the decider), elected with a PostgreSQL advisory lock and fenced.

Election: the instance that gets `pg_try_advisory_lock(key)` leads. The lock belongs to the database session
holding it, so it is released when the leader's connection ends, including when the leader is SIGKILLed or
its machine vanishes (the server notices the dead connection): a standby trying every few seconds then gets it.

Fencing: a leader that was paused (a long GC, a frozen VM) may wake up after a standby took over and still
believe it leads. So every new leader raises the role's `epoch` in the `leadership` table, and every decision
transaction first calls `fence(conn, name, epoch)`, which reads the row FOR SHARE: a decision under an older
epoch is refused (`Fenced`), and a new leader's raise waits until a decision in progress under the old epoch
has committed, so the two never interleave.

PostgreSQL only: the SQLite default runs every role in one process (`--role all`), where there is nothing to
elect.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

DECIDE = "decide"  # the decider's leadership (--role decide)


class Fenced(Exception):
    """A decision under a leadership that has been taken over: it must not be written."""


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key for a role name (stable across machines and versions)."""
    return int.from_bytes(hashlib.blake2b(f"channel-monitor/{name}".encode(), digest_size=8).digest(), "big", signed=True)


class Leadership:
    """Try to lead `name`; while leading, hold the connection that holds the lock."""

    def __init__(self, engine: Engine, name: str, holder: str, clock: Callable[[], float] = time.time) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"electing a {name} leader needs PostgreSQL (database_url), not {engine.dialect.name}")
        self.engine, self.name, self.holder, self.clock = engine, name, holder, clock
        self.epoch: int | None = None
        self._conn: Connection | None = None

    @property
    def leading(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> int | None:
        """The new epoch when this instance now leads (or its epoch when it already did); None when another does."""
        if self._conn is not None:
            return self.epoch
        conn = self.engine.connect()
        try:
            # The server should notice a leader whose machine vanished (no FIN, no RST) in seconds, not after the
            # kernel's two hours: probe the idle lock session every 2 s after 5 s (no effect over a Unix socket).
            conn.execute(text("SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3"))
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.name)}).scalar()
            conn.commit()
            if not got:
                conn.close()
                return None
            with conn.begin():
                epoch = conn.execute(
                    text(
                        "INSERT INTO leadership (name, epoch, holder, since) VALUES (:name, 1, :holder, :now) "
                        "ON CONFLICT (name) DO UPDATE SET epoch = leadership.epoch + 1, holder = :holder, since = :now "
                        "RETURNING epoch"
                    ),
                    {"name": self.name, "holder": self.holder, "now": self.clock()},
                ).scalar_one()
        except BaseException:
            conn.close()  # the session ends, and the lock with it
            raise
        self._conn, self.epoch = conn, int(epoch)
        return self.epoch

    def release(self) -> None:
        """Stop leading at once (SIGTERM): a standby's next try takes over without waiting for a timeout."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.name)})
            conn.commit()
        finally:
            conn.close()

    def alive(self) -> bool:
        """Whether the lock-holding connection still works; False (and no longer leading) when it broke."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:
            self._conn.invalidate()
            self._conn = None
            return False


def fence(conn: Connection, name: str, epoch: int) -> None:
    """Inside a decision transaction: refuse it (Fenced) unless `epoch` is still the role's current one."""
    current = conn.execute(text("SELECT epoch FROM leadership WHERE name = :name FOR SHARE"), {"name": name}).scalar()
    if current != epoch:
        raise Fenced(f"the {name} leadership moved to epoch {current}; this instance (epoch {epoch}) must not decide")
