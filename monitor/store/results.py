"""Recent raw probe results, for the JSON API (history beyond `retention.raw` lives in the rollups)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from monitor.store.models import ProbeResultRow


def recent_results(
    engine: Engine, channel: str, check: str | None = None, limit: int = 100, before: float | None = None
) -> list[dict[str, Any]]:
    """A channel's latest results (newest first), optionally of one check and before a time (for paging)."""
    r = ProbeResultRow
    query = select(r).where(r.channel == channel)
    if check:
        query = query.where(r.check == check)
    if before is not None:
        query = query.where(r.at < before)
    query = query.order_by(r.channel, r.at.desc()).limit(limit)  # the (channel, at) index, read backwards
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "at": row.at,
            "check": row.check,
            "kind": row.kind,
            "ok": row.ok,
            "error_class": row.error_class,
            "error": row.error,
            "severity": row.severity,
            "duration_seconds": row.duration_seconds,
            "channel_state": row.channel_state,
            "facts": json.loads(row.facts or "{}"),
        }
        for row in rows
    ]
