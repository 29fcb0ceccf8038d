"""The `alerts` section: notifiers, routes, grouping, reminders and the fallback chain."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from alerts.events import EVENTS, Severity
from monitor.config_errors import KindEntry, Problem, validate_kind_entries
from monitor.core.durations import Delay, Duration
from monitor.core.models import Slug, Strict


class NotifierEntry(KindEntry):
    """One alert destination (alerts.notifiers[]): id, kind and the kind's keys."""


class Route(Strict):
    """Which alerts go where. The first route whose every given matcher matches an alert takes it."""

    channels: list[str] = []  # channel ids (empty: any)
    groups: list[str] = []  # channel groups, e.g. social, marketplace (empty: any)
    tags: list[str] = []  # channel tags; any one matches (empty: any)
    severities: list[Severity] = []  # (empty: any)
    events: list[str] = []  # alerts.events.EVENTS, e.g. state, connectivity_lost, failover_frozen (empty: any)
    to: list[Slug] = Field(default=[], min_length=0)  # the notifier, then its fallbacks in order
    mute: bool = False  # matching alerts are only logged

    @field_validator("events")
    @classmethod
    def _known_events(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in EVENTS]
        if unknown:  # a misspelt event would silently never match
            raise ValueError(f"{', '.join(map(repr, unknown))} is not an alert event; use some of: {', '.join(EVENTS)}")
        return values

    @model_validator(mode="after")
    def _needs_target(self) -> Route:
        if not self.mute and not self.to:
            raise ValueError("give `to` (a notifier id, then fallbacks, e.g. to: [slack, email]) or mute: true")
        return self

    def matches(self, channel: str, group: str, tags: tuple[str, ...], severity: str, event: str) -> bool:
        return (
            (not self.channels or channel in self.channels)
            and (not self.groups or group in self.groups)
            and (not self.tags or bool(set(tags) & set(self.tags)))
            and (not self.severities or severity in self.severities)
            and (not self.events or event in self.events)
        )


class Alerts(Strict):
    """Top-level `alerts:` section."""

    group_wait: Delay = 30.0  # alerts within this window go out as one message
    reminder_every: Duration | None = None  # while a channel stays down, remind this often (off by default)
    fallback_after: Duration = 600.0  # a notifier failing this long hands its alerts to the next in the route
    status_url: str | None = None  # the status page's public address, linked from messages
    notifiers: list[NotifierEntry] = []
    routes: list[Route] = []  # none: every alert goes to the notifiers in the order listed


def validate_alerts(raw: Any, alerts: Alerts | None, channel_ids: set[str], kinds: dict[str, Any]) -> list[Problem]:
    """Check notifier options against their kind, and the ids routes refer to."""
    problems = validate_kind_entries(
        raw.get("notifiers") if isinstance(raw, dict) else None,
        ("alerts", "notifiers"),
        alerts.notifiers if alerts else None,
        kinds,
        "a notifier",
    )
    if alerts is None:
        return problems
    names = [n.id for n in alerts.notifiers]
    for r, route in enumerate(alerts.routes):
        for k, target in enumerate(route.to):
            if target not in names:
                hint = f"use one of: {', '.join(names)}" if names else "add it under alerts.notifiers"
                problems.append(Problem(("alerts", "routes", r, "to", k), f"{target!r} is not a notifier id; {hint}"))
        for k, channel in enumerate(route.channels):
            if channel not in channel_ids:
                problems.append(
                    Problem(
                        ("alerts", "routes", r, "channels", k),
                        f"{channel!r} is not a channel id; use one of: {', '.join(sorted(channel_ids))}",
                    )
                )
    return problems


def allowed_keys(names: list[str]) -> list[str] | None:
    table = {("alerts",): Alerts, ("alerts", "routes"): Route, ("alerts", "notifiers"): NotifierEntry}
    return list(table[tuple(names)].model_fields) if tuple(names) in table else None
