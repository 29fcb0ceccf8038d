"""The database engine: SQLite (WAL, one writer) by default, PostgreSQL by URL; the schema by Alembic migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import SQLModel, create_engine

from monitor.core.redact import redact_url
from monitor.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# Alembic is imported where migrations run, not here: commands that never open the database
# (check-config, probe-once, --help) start faster without it.

log = logging.getLogger("monitor.store")

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the first revision: the schema that versions before migrations made with create_all
# That schema's tables and columns: a database with exactly these and no alembic_version was made by
# such a version, and is stamped as BASELINE (tests/monitor/store/test_migrations.py checks this against 0001).
BASELINE_TABLES = {
    "probe_results": (
        "id",
        "at",
        "channel",
        "check",
        "kind",
        "ok",
        "error_class",
        "error",
        "duration_seconds",
        "facts",
        "severity",
        "channel_state",
    ),
    "channel_states": ("channel", "state", "since", "cause"),
    "transitions": ("id", "at", "channel", "old_state", "new_state", "cause"),
    "incidents": ("id", "channel", "started_at", "ended_at", "cause"),
}
_MIGRATION_LOCK = 0x636D_6462  # PostgreSQL advisory lock key ("cmdb"): one instance migrates at a time


class StoreError(Exception):
    """The database cannot be used; the message says where and what to do."""


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What bringing the schema up to date did."""

    before: str | None  # the revision found; None for an empty (or pre-migrations) database
    after: str
    adopted: bool = False  # tables of a version before migrations were stamped as BASELINE

    @property
    def changed(self) -> bool:
        return self.adopted or self.before != self.after

    def describe(self) -> str:
        """One line for people: what was done."""
        if self.adopted:
            done = f"existing tables adopted as revision {BASELINE}"
            return done + (f", then upgraded to {self.after}" if self.after != BASELINE else "")
        if self.before == self.after:
            return f"schema is up to date (revision {self.after})"
        return f"schema upgraded from {self.before or 'an empty database'} to revision {self.after}"


def ensure_data_dir(path: Path) -> None:
    """Create the data directory or explain why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create data directory {str(path)!r}: {exc.strerror}; choose another with --data-dir or the data_dir key"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(
            f"data directory {str(path)!r} is not writable; fix its permissions or choose another with --data-dir or the data_dir key"
        )


def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # pysqlite's own transaction handling would BEGIN late and DEFERRED; turn it off and emit our own
    # BEGIN in _sqlite_begin (SQLAlchemy's documented pysqlite recipe).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    _journal_mode_wal(cursor)  # readers (status page) never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no committed batch
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _journal_mode_wal(cursor: sqlite3.Cursor) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked" at
    # once (without busy_timeout) while another connection is creating it: retry for up to 5 s.
    # Once the file is in WAL mode (it stays so) this is a no-op.
    deadline = time.monotonic() + 5
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the write lock at BEGIN, where busy_timeout waits for it, instead of
    # failing with "database is locked" when a read transaction later tries to write.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("cm_write") else "BEGIN")


FENCE = "cm_fence"  # an engine's execution option: a decider's epoch check, run first in each write transaction


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite); commits on success, rolls back on error. On a decider's
    engine (--role decide) it first checks the decider's fencing epoch (the engine's FENCE execution option,
    monitor/store/leadership.py): a decider whose leadership was taken over writes nothing."""
    fence = engine.get_execution_options().get(FENCE)
    with engine.connect() as conn:
        conn.execution_options(cm_write=True)
        with conn.begin():
            if fence is not None:
                fence(conn)
            yield conn


def driver_url(url: str) -> str:
    """The URL SQLAlchemy needs: plain postgresql:// means psycopg 3 (SQLAlchemy 2.0 would pick psycopg2)."""
    return "postgresql+psycopg://" + url[len("postgresql://") :] if url.startswith("postgresql://") else url


def make_engine(url: str, *, upgrade: bool = True) -> Engine:
    """Open the database and (by default) bring its schema up to date where that is safe.

    Raise StoreError with the fix when the database cannot be used.
    """
    shown = redact_url(url)
    if url.startswith("sqlite:"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        try:
            engine = create_engine(driver_url(url), pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(
                f"cannot use database {shown}: {exc}; install its driver (for PostgreSQL: "
                "pip install 'psycopg[binary]') or use a sqlite:/// URL"
            ) from None
    if upgrade:
        try:
            result = upgrade_schema(engine, shown=shown)
        except StoreError:
            engine.dispose()
            raise
        if result.changed:
            log.info("database %s: %s", shown, result.describe())
    return engine


def upgrade_schema(engine: Engine, *, shown: str | None = None, explicit: bool = False) -> Upgrade:
    """Run the Alembic migrations up to the newest revision where that is safe.

    Safe: an empty database, one this program migrated before (alembic_version), or one with exactly the
    tables of a version before migrations (stamped as BASELINE first). A database holding only other
    programs' tables is refused unless `explicit` (`channel-monitor db upgrade`).
    """
    from alembic.util import CommandError

    shown = shown or redact_url(engine.url.render_as_string(hide_password=True))
    try:
        with begin_write(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            result = _upgrade(conn, shown, explicit)
        check_schema(engine, shown)
    except DBAPIError as exc:
        raise StoreError(
            f"cannot open database {shown}: {_one_line(exc.orig)}; "
            + (
                "check the file or move it away"
                if engine.dialect.name == "sqlite"
                else "check the URL, that the server runs, and that the user may create tables"
            )
        ) from None
    except CommandError as exc:
        raise StoreError(f"cannot migrate database {shown}: {exc}") from None
    return result


def _upgrade(conn: Connection, shown: str, explicit: bool) -> Upgrade:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config(conn)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert head is not None
    before = MigrationContext.configure(conn).get_current_revision()
    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    adopted = False
    if before is None and tables & set(BASELINE_TABLES):
        _check_baseline(conn, tables, shown)
        command.stamp(config, BASELINE)
        adopted = True
    elif before is None and tables and not explicit:
        raise StoreError(
            f"database {shown} holds tables of another program ({', '.join(sorted(tables)[:5])}) and "
            "none of channel-monitor's; use an empty database (another --data-dir or database_url), "
            "or add channel-monitor's tables to this one with `channel-monitor db upgrade`"
        )
    elif before is not None:
        try:
            script.get_revision(before)
        except CommandError:
            raise StoreError(
                f"database {shown} has schema revision {before!r}, which this version of "
                f"channel-monitor does not know (its newest is {head!r}): a newer channel-monitor or "
                "another program migrated it; run that version or choose another database"
            ) from None
    command.upgrade(config, "head")
    return Upgrade(before, head, adopted)


def _check_baseline(conn: Connection, tables: set[str], shown: str) -> None:
    """Refuse to adopt tables that are not exactly those the versions before migrations made."""
    existing = inspect(conn)
    for name, columns in BASELINE_TABLES.items():
        if name not in tables:
            continue
        have = {c["name"] for c in existing.get_columns(name)}
        missing = [c for c in columns if c not in have]
        unknown = sorted(have - set(columns))
        if missing or unknown:
            detail = (
                f"without the columns {', '.join(missing)}"
                if missing
                else f"with columns channel-monitor does not know ({', '.join(unknown)})"
            )
            raise StoreError(
                f"database {shown} has a table {name!r} {detail}: it belongs to another program or "
                "version; move it away or choose another --data-dir"
            )
    absent = sorted(set(BASELINE_TABLES) - tables)
    if absent:
        raise StoreError(
            f"database {shown} has some of channel-monitor's tables but not {', '.join(absent)}, and no "
            "schema version: it belongs to another program or version; move it away or choose another "
            "--data-dir"
        )


def check_schema(engine: Engine, shown: str | None = None) -> None:
    """Fail now, not mid-run, when a table this version needs is missing or lacks columns."""
    shown = shown or redact_url(engine.url.render_as_string(hide_password=True))
    existing = inspect(engine)
    tables = set(existing.get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in tables:
            raise StoreError(
                f"database {shown} has no table {table.name!r} after its migrations: a migration is "
                "missing (see 'Changing the database schema' in the README)"
            )
        have = {c["name"] for c in existing.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            raise StoreError(
                f"database {shown} has a table {table.name!r} without the columns "
                f"{', '.join(missing)}: it belongs to another program or version; move it away "
                "or choose another --data-dir"
            )


def alembic_config(conn: Connection | None = None) -> AlembicConfig:
    """The Alembic configuration of the shipped migrations; env.py runs them on `conn`."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The newest revision this version knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _one_line(exc: BaseException | None) -> str:
    return " ".join(str(exc).split())
