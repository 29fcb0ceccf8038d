"""The probers' heartbeats: each prober writes its own row every heartbeat; every prober reads them all to know
the live members of its location (monitor/membership.py decides who runs which check)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from monitor.membership import Member
from monitor.store.db import begin_write
from monitor.store.models import ProberRow
from monitor.store.upsert import upsert


def beat(engine: Engine, prober: str, location: str, now: float, lost: bool = False) -> None:
    """Say that `prober` (of `location`) is alive now, and whether its own network is in doubt (`lost`); its first
    beat also records when it started."""
    with begin_write(engine) as conn:
        row = {"id": prober, "location": location, "seen_at": now, "started_at": now, "lost": lost}
        upsert(conn, ProberRow.__table__, [row], ["id"], update=False)
        conn.execute(ProberRow.__table__.update().where(ProberRow.id == prober).values(seen_at=now, location=location, lost=lost))


def members(engine: Engine) -> list[Member]:
    """Every prober's latest heartbeat (live or not: monitor.membership.live decides)."""
    with engine.connect() as conn:
        rows = conn.execute(select(ProberRow.id, ProberRow.location, ProberRow.seen_at, ProberRow.lost).order_by(ProberRow.id)).all()
    return [Member(r.id, r.location, r.seen_at, r.lost) for r in rows]


def leave(engine: Engine, prober: str) -> None:
    """A prober stopping cleanly (SIGTERM): the others take its checks at their next look, without a timeout."""
    with begin_write(engine) as conn:
        conn.execute(delete(ProberRow).where(ProberRow.id == prober))
