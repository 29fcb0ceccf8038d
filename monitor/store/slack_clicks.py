"""Slack clicks seen (monitor/web/slack_click.py): the first request of a click wins, any repeat is told apart."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from monitor.store.db import begin_write
from monitor.store.models import SlackClickRow

KEEP = 3600.0  # a click is refused as stale after 5 minutes anyway: an hour of keys is plenty


def first(engine: Engine, key: str, now: float) -> bool:
    """Record the click `key`; True when it was not seen before (then act on it), False for a repeat."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(SlackClickRow.__table__).values(key=key, at=now).on_conflict_do_nothing(index_elements=["key"])
    with begin_write(engine) as conn:
        conn.execute(delete(SlackClickRow).where(SlackClickRow.at < now - KEEP))
        return bool(conn.execute(insert).rowcount)
