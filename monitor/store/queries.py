"""Read-side queries for restart, the status page and the API."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from monitor.store.models import ChannelStateRow, IncidentRow, ProbeResultRow


@dataclass(frozen=True, slots=True)
class StoredState:
    state: str
    since: float
    cause: dict


def load_channel_states(engine: Engine) -> dict[str, StoredState]:
    """Return every channel's last announced state."""
    with engine.connect() as conn:
        rows = conn.execute(select(ChannelStateRow)).all()
    return {r.channel: StoredState(r.state, r.since, json.loads(r.cause)) for r in rows}


def uptime_since(engine: Engine, since: float) -> dict[str, float]:
    """Share of good results per channel since a time (0..1); channels with no results are absent."""
    good = func.sum(case((ProbeResultRow.ok, 1), else_=0))
    query = (select(ProbeResultRow.channel, good, func.count())
             .where(ProbeResultRow.at >= since).group_by(ProbeResultRow.channel))
    with engine.connect() as conn:
        return {channel: (ok or 0) / total for channel, ok, total in conn.execute(query) if total}


def open_incidents(engine: Engine) -> list[IncidentRow]:
    """Incidents not yet closed, oldest first."""
    query = select(IncidentRow).where(IncidentRow.ended_at.is_(None)).order_by(IncidentRow.started_at)
    with engine.connect() as conn:
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)]


def recent_incidents(engine: Engine, limit: int = 20) -> list[IncidentRow]:
    """The latest incidents, newest first."""
    query = select(IncidentRow).order_by(IncidentRow.started_at.desc()).limit(limit)
    with engine.connect() as conn:
        return [IncidentRow.model_validate(r._mapping) for r in conn.execute(query)]
