"""Value types of stored history, shared by the store that reads them and the parts that resume or show them.

Plain data and time arithmetic only: the pure state machines and the web's read model use them without
importing the store (and SQLAlchemy with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

HOUR = 3600
DAY = 86400
UPTIME_WINDOWS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}


def floor_to(t: float, size: int) -> int:
    """The start of the bucket of `size` seconds that holds time t (UTC, epoch-aligned)."""
    return int(t // size) * size


@dataclass(frozen=True, slots=True)
class StoredState:
    state: str
    since: float
    cause: dict


@dataclass(frozen=True, slots=True)
class IncidentStarts:
    """Where a channel's incidents stand, for resuming its health after a restart."""

    open_since: float | None = None  # the start of its open incident
    last: tuple[float, float] | None = None  # start and end of its last closed incident


class Day(NamedTuple):
    """One channel's results in one UTC day, counted by the channel state each result left.

    A named tuple: the status page reads 90 of them for each of hundreds of channels every refresh.
    """

    start: int  # the day's midnight (UTC epoch seconds)
    n_up: int = 0
    n_degraded: int = 0
    n_down: int = 0
    n_maintenance: int = 0
    n_unknown: int = 0
    span: float = DAY  # seconds of the day that have passed (less than a day for today)

    @property
    def results(self) -> int:
        return self.n_up + self.n_degraded + self.n_down + self.n_maintenance + self.n_unknown

    @property
    def uptime(self) -> float | None:
        """Share of counted results that found the channel available, as uptime_windows counts it."""
        counted = self.n_up + self.n_degraded + self.n_down
        return (self.n_up + self.n_degraded) / counted if counted else None

    @property
    def worst(self) -> str:
        """The day's colour: down, degraded, up, maintenance (nothing else but maintenance) or none (no data)."""
        if self.n_down:
            return "down"
        if self.n_degraded:
            return "degraded"
        if self.n_up:
            return "up"
        return "maintenance" if self.n_maintenance else "none"

    def seconds_in(self, count: int) -> float:
        """About how long the channel spent in a state: its share of the day's results times the day's span."""
        return count / self.results * self.span if self.results else 0.0


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    """One hour of one check's successful results: how many, their mean and 95th percentile (seconds)."""

    hour: int  # the hour's start (UTC epoch seconds)
    count: int
    avg: float
    p95: float
    max: float


@dataclass(frozen=True, slots=True)
class PlanRef:
    """A failover plan that names an incident among its reasons."""

    id: int
    at: float
    owner_kind: str
    owner: str
    status: str
