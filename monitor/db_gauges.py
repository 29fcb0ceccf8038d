"""Metrics that live in the database (uptime by window, open incidents, applied failover values).

A scrape never waits on the database: the service reads these in a thread every minute, and soon after
a state change or a failover action, and the gauges keep the last reading.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from monitor.core.history import UPTIME_WINDOWS
from monitor.metrics import Metrics
from monitor.store.failover_actions import applied_values
from monitor.store.queries import open_incidents, uptime_windows


@dataclass(frozen=True)
class DbReading:
    uptime: dict[str, dict[str, float | None]] | None = None  # None: not read this time (the gauges keep theirs)
    open_incidents: frozenset[str] = frozenset()
    applied: dict[tuple[str, str, str], int] = field(default_factory=dict)


def read(engine: Engine, now: float, *, uptime: bool = True) -> DbReading:
    """One reading of the database-backed gauges (blocking: run it in a thread); `uptime` False skips the
    costly uptime sums."""
    windows = uptime_windows(engine, now) if uptime else None
    incidents = frozenset(i.channel for i in open_incidents(engine))
    applied = {place: value for place, value in applied_values(engine).items() if value is not None}
    return DbReading(windows, incidents, applied)


def apply(metrics: Metrics, reading: DbReading, channels: Iterable[str], places: Collection[tuple[str, str, str]]) -> None:
    """Set the gauges from a reading, for the configured channels and (kind, owner, channel) places of
    promotions and notices only: rows of ones removed from the config stay out. A window without counted
    results has no sample (not a fake 1 or 0)."""
    for channel in channels:
        if reading.uptime is not None:
            values = reading.uptime.get(channel, {})
            for window in UPTIME_WINDOWS:
                ratio = values.get(window)
                if ratio is None:
                    metrics.uptime.remove((channel, window))
                else:
                    metrics.uptime.set((channel, window), ratio)
        metrics.incident_open.set((channel,), 1 if channel in reading.open_incidents else 0)
    for place, value in reading.applied.items():
        if place in places:
            metrics.applied_amount.labels(*place).set(value)
