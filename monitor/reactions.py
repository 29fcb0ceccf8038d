"""What follows an event of the ChannelBook: it is stored, counted, considered by failover and alerted.

The one place events fan out, so that the book and the pipeline never call back into the rest: data goes
probe -> result -> book -> events -> (store, metrics, failover step, alert outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from alerts.base import Alert
from alerts.log import LogNotifier
from alerts.router import alert_row
from monitor.channels import ChannelBook, ConnectivityChange, Event, OverloadChange
from monitor.config import Channel
from monitor.events import AlertMaker
from monitor.health import FlapEvent, Transition
from monitor.metrics import SERVICE_LOG, Metrics
from monitor.store.writer import ResultWriter


class AlertPublisher:
    """Every alert is logged at once and, when notifiers are configured, stored in the outbox."""

    def __init__(
        self, metrics: Metrics, add_row: Callable[[dict[str, Any]], None], alerting: bool, channels: Mapping[str, Channel]
    ) -> None:
        self.metrics = metrics
        self.channels = channels
        self.add_row = add_row  # the result writer's outbox queue: stored with the state change queued with it
        self.alerting = alerting  # notifiers besides the log exist
        self.log_notifier = LogNotifier()

    def publish(self, alert: Alert, *, stored: bool = False) -> None:
        """Log now; queue for the outbox unless `stored` already in the transaction of what caused it."""
        alert = self.label(alert)
        self.log_notifier.log(alert)
        self.metrics.alerts.labels(SERVICE_LOG, "sent").inc()
        if self.alerting and not stored:
            self.add_row(alert_row(alert))

    def label(self, alert: Alert) -> Alert:
        """The alert with its channel's group and tags, which routes match on."""
        channel = self.channels.get(alert.channel)
        return replace(alert, group=channel.group, tags=tuple(channel.tags)) if channel is not None else alert


class Reactions:
    """Fan the book's events out: transitions to the writer, gauges, a failover step, and one alert each."""

    def __init__(
        self,
        book: ChannelBook,
        writer: ResultWriter,
        metrics: Metrics,
        maker: AlertMaker,
        publisher: AlertPublisher,
        failover_soon: Callable[[], None],
    ) -> None:
        self.book = book
        self.writer = writer
        self.metrics = metrics
        self.maker = maker
        self.publisher = publisher
        self.failover_soon = failover_soon

    def __call__(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, Transition):
                self.writer.add_transition(event)
                self.metrics.set_channel_state(event.channel, event.new)
                self.failover_soon()
            elif isinstance(event, FlapEvent):
                self.metrics.flapping.set((event.channel,), 1 if event.started else 0)
            elif isinstance(event, ConnectivityChange):
                self.metrics.connectivity_lost.set(1 if event.lost else 0)
            elif isinstance(event, OverloadChange):
                self.metrics.overloaded.set(1 if event.overloaded else 0)
            self.publisher.publish(self.maker.for_event(event, self.book))
