"""Leases: one instance at a time does a piece of work several could do, and another takes it over when the
holder stops renewing (it died). Used for alert destinations: any number of relays may run, and each
destination's deliveries are sent by one of them at a time, so an incident's messages stay in one thread and
no alert goes out twice while its holder lives. SQLite and PostgreSQL alike (one conditional upsert)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from monitor.store.db import begin_write
from monitor.store.models import LeaseRow


def hold(engine: Engine, name: str, holder: str, now: float, ttl: float) -> tuple[bool, bool]:
    """Take or renew the lease `name` for `holder` until now + ttl: (held now, newly taken). Someone else's
    lease that has not expired is left alone (held False)."""
    table = LeaseRow.__table__
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(name=name, holder=holder, until=now + ttl)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
        where=(table.c.until < now) | (table.c.holder == holder),
    )
    with begin_write(engine) as conn:
        before = conn.execute(select(table.c.holder, table.c.until).where(table.c.name == name)).first()
        conn.execute(statement)
        after = conn.execute(select(table.c.holder).where(table.c.name == name)).scalar()
    held = after == holder
    renewed = before is not None and before.holder == holder and before.until >= now
    return held, held and not renewed


def let_go(engine: Engine, holder: str) -> None:
    """Give up every lease of `holder` (a clean stop): the other instances take them at once."""
    with begin_write(engine) as conn:
        conn.execute(delete(LeaseRow).where(LeaseRow.holder == holder))


def let_go_others(engine: Engine, prefix: str, holder: str) -> int:
    """A new leading decider takes over the leases of earlier deciders (holders starting with `prefix`) at once,
    instead of waiting for them to run out; how many it released."""
    with begin_write(engine) as conn:
        return conn.execute(delete(LeaseRow).where(LeaseRow.holder.startswith(prefix, autoescape=True), LeaseRow.holder != holder)).rowcount
