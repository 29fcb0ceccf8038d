"""The rollup marks (rollup_marks): how far raw results are counted, and before when each kind of row was deleted."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from monitor.store.db import begin_write
from monitor.store.models import RollupMarkRow

# Mark names (rollup_marks.name).
RAW_ID = "raw_id"  # highest probe_results.id counted in the rollups
RAW_PURGED = "raw_purged_before"  # raw rows before this time may have been deleted
HOURLY_PURGED = "hourly_purged_before"  # hourly rows before this time are deleted
DAILY_PURGED = "daily_purged_before"  # daily rows before this time are deleted
MARKS = (RAW_ID, RAW_PURGED, HOURLY_PURGED, DAILY_PURGED)


def read_marks(conn: Connection) -> dict[str, int]:
    """Every mark, 0 when not yet set."""
    found = dict(conn.execute(select(RollupMarkRow.name, RollupMarkRow.value)).all())
    return {name: int(found.get(name, 0)) for name in MARKS}


def ensure_marks(engine: Engine) -> None:
    """Insert every mark not yet stored, at 0."""
    with engine.connect() as conn:
        present = set(conn.execute(select(RollupMarkRow.name)).scalars())
    missing = [{"name": n, "value": 0} for n in MARKS if n not in present]
    if missing:
        with begin_write(engine) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(RollupMarkRow.__table__).on_conflict_do_nothing(index_elements=["name"]), missing)


def raise_mark(conn: Connection, name: str, value: int) -> None:
    """Move a mark forward to `value` (never back)."""
    conn.execute(update(RollupMarkRow).where(RollupMarkRow.name == name, RollupMarkRow.value < value).values(value=value))
