"""HTTP details every client of the monitor shares: its User-Agent and how a Retry-After is read."""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime

USER_AGENT = "channel-monitor/0.1 (+https://github.com/channel-monitor)"  # every request the monitor makes


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (past: 0); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = max(parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (TypeError, ValueError):
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
