"""The results the decider reads (--role decide): new rows from every location, and each location's latest.

The probers write results (monitor/store/writer.py); the decider reads them back here, in id order, with the
ranges it may have skipped (monitor/tail.py), and on taking over the newest result of each check per location,
so that its votes start from what every location last saw.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine

from monitor.store.models import ProbeResultRow

R = ProbeResultRow
COLUMNS = (R.id, R.at, R.channel, R.check, R.kind, R.ok, R.error_class, R.error, R.severity, R.location, R.duration_seconds, R.facts)


def new_results(engine: Engine, after: int, ranges: list[tuple[int, int]], limit: int = 10_000) -> list[Any]:
    """Rows with an id above `after` or in one of `ranges`, in id order (at most `limit`)."""
    wanted = or_(R.id > after, *(and_(R.id >= first, R.id <= last) for first, last in ranges))
    with engine.connect() as conn:
        return list(conn.execute(select(*COLUMNS).where(wanted).order_by(R.id).limit(limit)).all())


def newest_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(R.id), 0))).scalar_one())


def latest_per_location(engine: Engine, since: float) -> list[Any]:
    """The newest result of every (channel, check, location) taken at or after `since`."""
    newest = select(func.max(R.id).label("id")).where(R.at >= since).group_by(R.channel, R.check, R.location).subquery()
    with engine.connect() as conn:
        return list(conn.execute(select(*COLUMNS).join(newest, newest.c.id == R.id).order_by(R.id)).all())
