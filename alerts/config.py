"""The `alerts` section: notifiers, routes, grouping, reminders and the fallback chain."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from monitor.config_errors import Problem, problems_from_validation
from monitor.durations import Delay, Duration

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
SEVERITIES = ("critical", "warning", "info")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotifierEntry(BaseModel):
    """One destination. Keys other than id and kind belong to the kind (validated by load_config)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Slug
    kind: str
    _options: Any = PrivateAttr(default=None)

    @property
    def options(self) -> Any:
        assert self._options is not None, "load_config sets options"
        return self._options


class Route(Strict):
    """Which alerts go where. The first route whose every given matcher matches an alert takes it."""

    channels: list[str] = []        # channel ids (empty: any)
    groups: list[str] = []          # channel groups, e.g. social, marketplace (empty: any)
    tags: list[str] = []            # channel tags; any one matches (empty: any)
    severities: list[Literal["critical", "warning", "info"]] = []  # (empty: any)
    events: list[str] = []          # e.g. state, connectivity_lost, failover_frozen (empty: any)
    to: list[Slug] = Field(default=[], min_length=0)  # the notifier, then its fallbacks in order
    mute: bool = False              # matching alerts are only logged

    @model_validator(mode="after")
    def _needs_target(self) -> Route:
        if not self.mute and not self.to:
            raise ValueError("give `to` (a notifier id, then fallbacks, e.g. to: [slack, email]) or mute: true")
        return self

    def matches(self, channel: str, group: str, tags: tuple[str, ...], severity: str, event: str) -> bool:
        return ((not self.channels or channel in self.channels) and (not self.groups or group in self.groups)
                and (not self.tags or bool(set(tags) & set(self.tags)))
                and (not self.severities or severity in self.severities) and (not self.events or event in self.events))


class Alerts(Strict):
    """Top-level `alerts:` section."""

    group_wait: Delay = 30.0          # alerts within this window go out as one message
    reminder_every: Duration | None = None  # while a channel stays down, remind this often (off by default)
    fallback_after: Duration = 600.0  # a notifier failing this long hands its alerts to the next in the route
    status_url: str | None = None     # the status page's public address, linked from messages
    notifiers: list[NotifierEntry] = []
    routes: list[Route] = []          # none: every alert goes to the notifiers in the order listed


def validate_alerts(raw: Any, alerts: Alerts | None, channel_ids: set[str], kinds: dict[str, Any]) -> list[Problem]:
    """Check notifier options against their kind, and the ids routes refer to."""
    problems: list[Problem] = []
    raw_notifiers = raw.get("notifiers") if isinstance(raw, dict) else None
    for i, item in enumerate(raw_notifiers if isinstance(raw_notifiers, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            continue
        loc = ("alerts", "notifiers", i)
        kind = kinds.get(item["kind"])
        if kind is None:
            problems.append(Problem(loc + ("kind",), f"{item['kind']!r} is not a notifier kind; use one of: "
                                    f"{', '.join(sorted(kinds))}"))
            continue
        try:
            options = kind.config.model_validate({k: v for k, v in item.items() if k not in ("id", "kind")})
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, loc, lambda _loc, k=kind: ["id", "kind", *k.config.model_fields]))
            continue
        if alerts is not None:
            alerts.notifiers[i]._options = options
            if alerts.notifiers[i].__pydantic_extra__:
                alerts.notifiers[i].__pydantic_extra__.clear()
    if alerts is None:
        return problems
    names = [n.id for n in alerts.notifiers]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(Problem(("alerts", "notifiers", i, "id"), f"{name!r} is used by another notifier; ids must be unique"))
    for r, route in enumerate(alerts.routes):
        for k, target in enumerate(route.to):
            if target not in names:
                hint = f"use one of: {', '.join(names)}" if names else "add it under alerts.notifiers"
                problems.append(Problem(("alerts", "routes", r, "to", k), f"{target!r} is not a notifier id; {hint}"))
        for k, channel in enumerate(route.channels):
            if channel not in channel_ids:
                problems.append(Problem(("alerts", "routes", r, "channels", k),
                                        f"{channel!r} is not a channel id; use one of: {', '.join(sorted(channel_ids))}"))
    return problems


def allowed_keys(names: list[str]) -> list[str] | None:
    table = {("alerts",): Alerts, ("alerts", "routes"): Route, ("alerts", "notifiers"): NotifierEntry}
    return list(table[tuple(names)].model_fields) if tuple(names) in table else None
