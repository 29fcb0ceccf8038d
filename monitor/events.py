"""What each event says as an alert, and which incident thread it belongs to. Pure.

State changes, flapping, the monitor's own connectivity, reminders and failover decisions become Alert
values here; keys are chosen so that every alert about one incident lands in that incident's thread:
"down:<channel>:<outage start>" (flapping and reminders included), "connectivity:<lost at>", and a
failover episode's outage key (else "failover:<owner>").
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.base import Alert
from monitor.channels import ChannelBook, ConnectivityChange, Event, OverloadChange
from monitor.config import Channel
from monitor.health import FlapEvent, State, Transition

CONNECTIVITY_OWNER = "monitor-connectivity"  # the "is it us?" control checks' owner: never a sales channel


class AlertMaker:
    """Alerts for the book's events; remembers the thread of each flapping channel between start and stop."""

    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self.channels = channels
        self._flapping_key: dict[str, str] = {}

    def for_event(self, event: Event, book: ChannelBook) -> Alert:
        if isinstance(event, ConnectivityChange):
            return Alert(
                CONNECTIVITY_OWNER,
                "Monitor",
                "",
                "",
                event.at,
                {},
                key=f"connectivity:{int(event.since)}",
                detail=event.reason or "probes answer again",
                event="connectivity_lost" if event.lost else "connectivity_restored",
            )
        if isinstance(event, OverloadChange):
            return Alert(
                CONNECTIVITY_OWNER,
                "Monitor",
                "",
                "",
                event.at,
                {},
                key=f"overload:{int(event.since)}",
                detail=event.reason,
                event="overload_started" if event.overloaded else "overload_ended",
            )
        if isinstance(event, FlapEvent):
            return self._flapping(event, book)
        return self._state(event)

    def _state(self, event: Transition) -> Alert:
        recovered = event.new not in (State.DOWN, State.MAINTENANCE)
        down_for = event.at - event.down_since if recovered and event.down_since is not None else None  # maintenance in between included
        return Alert(
            event.channel,
            self.channels[event.channel].name,
            event.old.value,
            event.new.value,
            event.at,
            event.cause,
            down_for=down_for,
            flapping=event.flapping,
            key=f"down:{event.channel}:{int(event.down_since)}" if event.down_since is not None else "",
        )

    def _flapping(self, event: FlapEvent, book: ChannelBook) -> Alert:
        health = book.health[event.channel]
        # The changes made while flapping were not announced, so the end says where it settled.
        settled = "" if event.started else f"; now {health.state.value}"
        if event.started or event.channel not in self._flapping_key:
            # In the thread of the channel's incident (flapping keeps it going), else one of its own.
            incident = health.incident_since(event.at)
            self._flapping_key[event.channel] = (
                f"down:{event.channel}:{int(incident)}" if incident is not None else f"flapping:{event.channel}:{int(event.at)}"
            )
        key = self._flapping_key[event.channel] if event.started else self._flapping_key.pop(event.channel)
        return Alert(
            event.channel,
            self.channels[event.channel].name,
            "",
            "",
            event.at,
            {},
            key=key,
            event="flapping_started" if event.started else "flapping_stopped",
            detail=f"{event.percent:.0f}% state changes{settled}",
        )

    def reminders(self, book: ChannelBook, now: float, last: float, every: float) -> list[Alert]:
        """While a channel stays down, one alert per `every` since its outage began (boundaries crossed since
        `last`: after a restart the count goes on from the outage's start, so none is repeated)."""
        out = []
        for channel_id, health in book.health.items():
            if health.state is not State.DOWN or health.down_since is None:
                continue
            start = health.down_since
            if int((now - start) // every) > int((last - start) // every) and now - start >= every:
                out.append(
                    Alert(
                        channel_id,
                        self.channels[channel_id].name,
                        "down",
                        "down",
                        now,
                        dict(health.cause),
                        down_for=now - start,
                        event="reminder",
                        key=f"down:{channel_id}:{int(start)}",
                    )
                )
        return out
