"""The notifier interface: what every notifier receives, and how it reports failure."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Alert:
    """A channel state change, in the words a person needs."""

    channel: str
    channel_name: str
    old_state: str
    new_state: str
    at: float
    cause: Mapping[str, str | None] = field(default_factory=dict)
    down_for: float | None = None  # set on recovery: how long the channel was down
    event: str = "state"  # "state", "flapping_started/stopped" or "connectivity_lost/restored"
    detail: str = ""
    flapping: bool = False         # a state change of a flapping channel: one flapping alert covers it

    @property
    def summary(self) -> str:
        """One line: 'Allegro (allegro): up -> down: home http_status: HTTP 503'."""
        if self.event in ("connectivity_lost", "connectivity_restored"):
            what = "lost its own connectivity; channel states are frozen" if self.event == "connectivity_lost" else "is connected again"
            return f"The monitor {what}: {self.detail}"
        if self.event in FAILOVER_EVENTS:
            return f"{FAILOVER_EVENTS[self.event]}: {self.channel_name} ({self.channel}): {self.detail}"
        if self.event != "state":
            verb = "is flapping" if self.event == "flapping_started" else "stopped flapping"
            return f"{self.channel_name} ({self.channel}) {verb}: {self.detail}"
        text = f"{self.channel_name} ({self.channel}): {self.old_state} -> {self.new_state}"
        if self.cause.get("error_class"):
            text += f": {self.cause.get('check')} {self.cause['error_class']}: {self.cause.get('error')}"
        elif self.cause.get("maintenance"):
            text += f": maintenance: {self.cause['maintenance']}"
        elif self.cause.get("override_by"):
            text += f": set by {self.cause['override_by']}: {self.cause.get('reason')}"
        if self.down_for is not None:
            text += f" (down for {_human(self.down_for)})"
        return text


# Failover events (monitor/failover): the alert's channel fields name the promotion or notice.
FAILOVER_EVENTS = {
    "failover_planned": "Failover: moving promotion",
    "failover_dry_run": "Failover (dry-run, nothing applied): would move",
    "failover_approval_needed": "Failover waits for approval",
    "failover_frozen": "Failover frozen",
    "failover_held": "Failover cannot move",
    "action_retrying": "Failover action not applied yet",
    "action_failed": "Failover action failed",
    "action_conflict": "Failover conflict",
}


class NotifyError(Exception):
    """A delivery failed; permanent=True means retrying cannot help (bad token, deleted channel)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(ABC):
    """Delivers alerts somewhere. One file per kind, registered in alerts.NOTIFIERS."""

    def wants(self, alert: Alert) -> bool:
        """Skip what a person need not hear: first sightings (unknown -> up), maintenance beginning
        and ending, and each change of a flapping channel (its one flapping alert covers them)."""
        if alert.event != "state":
            return True
        quiet = {("unknown", "up"), ("up", "maintenance"), ("maintenance", "up"), ("unknown", "maintenance")}
        if alert.down_for is not None:
            return not alert.flapping  # a recovery, even one that ends a maintenance window, is news
        return not alert.flapping and (alert.old_state, alert.new_state) not in quiet

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver one alert; raise NotifyError on failure."""


def _human(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"
