"""The database engine: SQLite (WAL, one writer) by default, PostgreSQL by URL."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlmodel import SQLModel, create_engine

from monitor.redact import redact_url
from monitor.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)


class StoreError(Exception):
    """The database cannot be used; the message says where and what to do."""


def ensure_data_dir(path: Path) -> None:
    """Create the data directory or explain why it cannot be used."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create data directory {str(path)!r}: {exc.strerror}; "
                         "choose another with --data-dir or the data_dir key") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(f"data directory {str(path)!r} is not writable; "
                         "fix its permissions or choose another with --data-dir or the data_dir key")


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")     # readers (status page) never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")   # safe with WAL: a crash loses no committed batch
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the engine and the tables; raise StoreError with the fix when the file is unusable."""
    shown = redact_url(url)
    if url.startswith("sqlite:///"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use database {shown}: {exc}; install its driver (for PostgreSQL: "
                             "pip install psycopg[binary]) or use a sqlite:/// URL") from None
    try:
        SQLModel.metadata.create_all(engine)
        check_schema(engine)
    except (DatabaseError, OperationalError) as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {shown}: {exc.orig}; check the file or move it away") from None
    return engine


def check_schema(engine: Engine) -> None:
    """Fail now, not mid-run, when an existing table lacks columns this version needs."""
    existing = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        have = {c["name"] for c in existing.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            raise StoreError(f"database {redact_url(str(engine.url))} has a table {table.name!r} without the columns "
                             f"{', '.join(missing)}: it belongs to another program or version; move it away "
                             "or choose another --data-dir")
