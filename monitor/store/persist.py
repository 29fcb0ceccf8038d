"""What must survive a restart besides results: check progress, overrides, admin maintenance windows."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from monitor.health import CheckHealth, Override, State
from monitor.maintenance import Window
from monitor.store.db import begin_write
from monitor.store.models import CheckProgressRow, MaintenanceRow, OverrideRow
from monitor.store.upsert import upsert


def save_override(engine: Engine, channel: str, override: Override | None, now: float) -> None:
    """Store (or with None, delete) a channel's manual override."""
    with begin_write(engine) as conn:
        if override is None:
            conn.execute(delete(OverrideRow).where(OverrideRow.channel == channel))
            return
        upsert(
            conn,
            OverrideRow.__table__,
            [
                {
                    "channel": channel,
                    "state": override.state.value,
                    "by": override.by,
                    "reason": override.reason,
                    "until": override.until,
                    "created_at": now,
                }
            ],
            ["channel"],
        )


def save_window(engine: Engine, channel: str, window: Window, now: float) -> int:
    """Store a one-off maintenance window added through the admin API; return its id."""
    with begin_write(engine) as conn:
        result = conn.execute(
            insert(MaintenanceRow).values(
                channel=channel, start=window.start, end=window.end, reason=window.reason, by=window.by or "", created_at=now
            )
        )
        return result.inserted_primary_key[0]


def delete_window(engine: Engine, channel: str, window_id: int) -> Window | None:
    """Delete one stored window of the channel; return it, or None when the channel has no window with that id."""
    with begin_write(engine) as conn:
        row = conn.execute(select(MaintenanceRow).where(MaintenanceRow.id == window_id, MaintenanceRow.channel == channel)).first()
        if row is None:
            return None
        conn.execute(delete(MaintenanceRow).where(MaintenanceRow.id == window_id))
    return _window(row)


def load_overrides(engine: Engine, now: float) -> dict[str, Override]:
    """Overrides still in force."""
    with engine.connect() as conn:
        rows = conn.execute(select(OverrideRow)).all()
    overrides = {r.channel: Override(State(r.state), r.by, r.reason, r.until) for r in rows}
    return {channel: o for channel, o in overrides.items() if o.active_at(now)}


def load_windows(engine: Engine, now: float) -> dict[str, list[Window]]:
    """Admin maintenance windows that have not ended."""
    with engine.connect() as conn:
        rows = conn.execute(select(MaintenanceRow).where(MaintenanceRow.end > now).order_by(MaintenanceRow.start)).all()
    windows: dict[str, list[Window]] = {}
    for r in rows:
        windows.setdefault(r.channel, []).append(_window(r))
    return windows


def _window(row: MaintenanceRow) -> Window:
    return Window(row.reason, start=row.start, end=row.end, by=row.by, id=row.id)


def load_check_progress(engine: Engine) -> dict[tuple[str, str], CheckHealth]:
    """Each check's threshold progress as last flushed."""
    with engine.connect() as conn:
        rows = conn.execute(select(CheckProgressRow)).all()
    return {(r.channel, r.check): CheckHealth(State(r.state), r.fails, r.warns, r.oks, r.nondown) for r in rows}
