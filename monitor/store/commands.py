"""Admin commands from web instances to the leading decider: a small outbox in the database.

A web instance (--role web) stores the command and waits for its outcome; the decider carries out the pending
ones in id order (through the same admin actions as its own admin API) and stores each outcome.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from monitor.store.db import begin_write
from monitor.store.models import AdminCommandRow

C = AdminCommandRow


def submit(engine: Engine, action: str, args: dict[str, Any], now: float) -> int:
    with begin_write(engine) as conn:
        return int(
            conn.execute(C.__table__.insert().values(action=action, args=json.dumps(args), created_at=now).returning(C.id)).scalar_one()
        )


def pending(engine: Engine, limit: int = 100) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(C.id, C.action, C.args).where(C.done_at.is_(None)).order_by(C.id).limit(limit)).all())


def finish(engine: Engine, command_id: int, outcome: str, result: Any, now: float) -> None:
    with begin_write(engine) as conn:
        conn.execute(
            update(C).where(C.id == command_id, C.done_at.is_(None)).values(done_at=now, outcome=outcome, result=json.dumps(result))
        )


def outcome(engine: Engine, command_id: int) -> tuple[str, Any] | None:
    """(outcome, result) once the decider has carried the command out; None while it waits."""
    with engine.connect() as conn:
        row = conn.execute(select(C.outcome, C.result).where(C.id == command_id, C.done_at.is_not(None))).first()
    return None if row is None else (row.outcome, json.loads(row.result or "null"))
