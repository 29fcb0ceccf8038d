"""The log notifier: one log line per state change (down is a warning)."""
from __future__ import annotations

import logging

from alerts.base import Alert, Notifier

WARN_EVENTS = {"connectivity_lost", "flapping_started", "failover_approval_needed", "failover_frozen",
               "failover_held", "action_retrying", "action_failed", "action_conflict"}


class LogNotifier(Notifier):
    """Write each alert to the service log, with its fields for JSON logs."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("monitor.alerts")

    def wants(self, alert: Alert) -> bool:
        return True  # the log keeps every state change, first sightings included

    async def send(self, alert: Alert) -> None:
        level = logging.WARNING if alert.new_state == "down" or alert.event in WARN_EVENTS else logging.INFO
        self.logger.log(level, alert.summary, extra={
            "event": "transition" if alert.event == "state" else alert.event, "channel": alert.channel, "old": alert.old_state, "new": alert.new_state,
            "cause": dict(alert.cause), "down_for_seconds": alert.down_for})
