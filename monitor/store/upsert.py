"""INSERT ... ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert(conn: Connection, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str], *, update: bool = True) -> None:
    """Insert rows, replacing the non-key columns of rows whose keys already exist (update=False: keep them)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    if not update:
        conn.execute(statement.on_conflict_do_nothing(index_elements=list(keys)), list(rows))
        return
    changed = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed), list(rows))
