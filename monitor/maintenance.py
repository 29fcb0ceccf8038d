"""Maintenance windows: one-off (start, end) or recurring (cron, duration, time zone). Pure; no clock reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger


@dataclass(frozen=True, slots=True)
class Window:
    """A period when a channel is expected to be unavailable: no down alert, no failover."""

    reason: str
    start: float | None = None  # one-off: Unix times
    end: float | None = None
    cron: str | None = None  # recurring: a 5-field crontab line, in time_zone
    duration: float | None = None  # seconds each recurrence lasts
    time_zone: str = "UTC"
    by: str | None = None  # who scheduled it (admin API)
    # The stored row's id (admin API), to cancel it by. Not part of equality: the window a running service
    # holds is the same window as the row it was stored as, whether or not it was given the id.
    id: int | None = field(default=None, compare=False)

    def active_at(self, now: float) -> bool:
        """True while the window covers now."""
        if self.cron is None:
            return self.start is not None and self.end is not None and self.start <= now < self.end
        return self.current_start(now) is not None

    def current_start(self, now: float) -> float | None:
        """For a recurring window: when the occurrence covering now began, else None."""
        assert self.cron is not None and self.duration is not None
        trigger = cron_trigger(self.cron, self.time_zone)
        # Look back one hour further than the duration: an occurrence in a spring-forward gap is
        # moved up to an hour later and must still be found.
        cursor = datetime.fromtimestamp(now - self.duration - 3600, UTC)
        latest = None
        while (occurrence := trigger.get_next_fire_time(None, cursor)) is not None and occurrence.timestamp() <= now:
            latest = occurrence.timestamp()
            cursor = occurrence + timedelta(seconds=1)
        return latest if latest is not None and now < latest + self.duration else None

    def next_start(self, now: float) -> float | None:
        """When the window next begins (for the status page's upcoming maintenance)."""
        if self.cron is None:
            return self.start if self.start is not None and self.start > now else None
        following = cron_trigger(self.cron, self.time_zone).get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
        return following.timestamp() if following else None


@lru_cache(maxsize=256)
def cron_trigger(expression: str, time_zone: str) -> CronTrigger:
    """Parse a crontab line in a time zone (cached: windows are checked every second); raise ValueError with the fix."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{time_zone!r} is not a time zone; use an IANA name such as Europe/Warsaw or UTC") from None
    try:
        trigger = CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise ValueError(
            f"{expression!r} is not a crontab line ({exc}); write 5 fields: minute hour day month weekday, "
            "e.g. '0 2 * * sun' for Sundays at 02:00"
        ) from None
    # A line such as "0 0 30 2 *" (30 February) never fires, and searching for it is slow.
    if trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC)) is None or _never_soon(trigger):
        raise ValueError(f"{expression!r} never fires; check the day and month fields")
    return trigger


def _never_soon(trigger: CronTrigger) -> bool:
    start = datetime.now(UTC)
    following = trigger.get_next_fire_time(None, start)
    return following is None or following - start > timedelta(days=366 * 5)


def active(windows: tuple[Window, ...] | list[Window], now: float) -> Window | None:
    """The first window covering now, if any."""
    return next((w for w in windows if w.active_at(now)), None)
