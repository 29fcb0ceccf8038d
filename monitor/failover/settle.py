"""One outage, one plan: plans wait until the channels' standings hold still. Pure.

Channels that fail together cross their hold-downs seconds apart, so plans wait until the standings have held
still for `timing.settle`, but at most SETTLE_MAX_FACTOR settle windows after the first change (a channel that
keeps changing cannot postpone the others' failover for ever).
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.failover.config import SETTLE_MAX_FACTOR
from monitor.failover.plan import Standing


class Settling:
    """The standings last seen, when they last changed, and the first change not yet planned."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self.seen: dict[str, Standing] = {}
        self.changed_at = 0.0
        self.first_change: float | None = None

    def settled(self, standings: Mapping[str, Standing], now: float) -> bool:
        """Whether plans may be made now: the standings have not changed for `settle`, or the first change
        not yet planned is SETTLE_MAX_FACTOR settle windows old."""
        if standings != self.seen:
            self.seen = dict(standings)
            self.changed_at = now
            if self.first_change is None:
                self.first_change = now
        if self.first_change is None:
            return True
        if now - self.changed_at >= self.settle or now - self.first_change >= SETTLE_MAX_FACTOR * self.settle:
            self.first_change = None
            return True
        return False

    def until(self) -> float | None:
        """When the plans waiting for the standings to settle will be made (None: none waits)."""
        if self.first_change is None:
            return None
        return min(self.changed_at + self.settle, self.first_change + SETTLE_MAX_FACTOR * self.settle)
