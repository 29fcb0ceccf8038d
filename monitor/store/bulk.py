"""Many rows of one shape in one statement, compiled once and run on the driver's executemany.

The writer stores a row per probe and a progress row per check: at 1,000 probes/s, SQLAlchemy's per-row
parameter processing for `conn.execute(insert(...), rows)` was about 13 % of the service's CPU (py-spy, issue 17).
The statement is compiled once for the engine's dialect, and each flush hands the rows to the DBAPI cursor
as they are (tuples in the compiled order for SQLite's positional `?`, dicts for psycopg's named `%(x)s`).
The values are plain str, int, float, bool and None, which both drivers bind natively, so skipping
SQLAlchemy's bind processors changes nothing that is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Insert


class Bulk:
    """One statement for rows with the given columns."""

    def __init__(self, statement: Insert, dialect: Dialect, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.columns = tuple(columns)
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None
        # Columns the rows leave out get their scalar defaults, which the compiled statement binds as parameters.
        table = statement.table
        self.defaults = {
            c.key: c.default.arg
            for c in table.columns
            if c.key not in self.columns and c.default is not None and getattr(c.default, "is_scalar", False)
        }
        if self.order is not None and not set(self.order) <= set(self.columns) | set(self.defaults):
            raise ValueError(f"compiled parameters {self.order} need values the rows ({self.columns}) do not give")

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.defaults:
            rows = [{**self.defaults, **row} for row in rows]
        order = self.order
        params = [tuple(row[k] for k in order) for row in rows] if order is not None else list(rows)
        conn.exec_driver_sql(self.sql, params)


def insert_many(table: Any, dialect: Dialect, columns: Sequence[str]) -> Bulk:
    """INSERT INTO table (columns) VALUES (...)."""
    return Bulk(insert(table), dialect, columns)


def upsert_many(table: Any, dialect: Dialect, columns: Sequence[str], keys: Sequence[str]) -> Bulk:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the other columns, for SQLite and PostgreSQL alike."""
    module = postgresql if dialect.name == "postgresql" else sqlite
    statement = module.insert(table)
    changed = {c: statement.excluded[c] for c in columns if c not in keys}
    return Bulk(statement.on_conflict_do_update(index_elements=list(keys), set_=changed), dialect, columns)
