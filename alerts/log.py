"""The log notifier: one log line per alert (critical ones as warnings)."""

from __future__ import annotations

import logging

from alerts.base import Alert, Batch, Delivery, Notifier, NotifierConfig, NotifierKind, Thread


class LogNotifier(Notifier):
    """Write each alert to the service log, with its fields for JSON logs. Always on, never grouped."""

    def __init__(self, logger: logging.Logger | None = None, id: str = "log") -> None:
        self.logger = logger or logging.getLogger("monitor.alerts")
        self.id = id

    def wants(self, alert: Alert) -> bool:
        return True  # the log keeps every state change, first sightings included

    async def send(self, batch: Batch, thread: Thread | None = None) -> Delivery:
        for alert in batch.alerts:
            self.log(alert)
        return Delivery()

    def log(self, alert: Alert) -> None:
        level = logging.WARNING if alert.severity == "critical" or alert.severity == "warning" and alert.event != "state" else logging.INFO
        self.logger.log(
            level,
            alert.summary,
            extra={
                "event": "transition" if alert.event == "state" else alert.event,
                "channel": alert.channel,
                "old": alert.old_state,
                "new": alert.new_state,
                "cause": dict(alert.cause),
                "down_for_seconds": alert.down_for,
                "severity": alert.severity,
            },
        )


class Config(NotifierConfig):
    """The log notifier has no options."""


KIND = NotifierKind(
    Config, lambda id, _config, ctx: LogNotifier(ctx.log if isinstance(ctx.log, logging.Logger) else None, id), "one log line per alert"
)
