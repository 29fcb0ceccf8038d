"""Failover configuration: promotions, customer notices, actuators and the timing that stops thrashing.

The models only check what one entry can check alone; cross references (a promotion naming a channel
or an actuator that does not exist) are checked by check_references() with the whole config at hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from monitor.config_errors import KindEntry, Problem, validate_kind_entries
from monitor.core.durations import Delay
from monitor.core.models import Slug, Strict

Mode = Literal["auto", "approve", "dry-run"]
MAX_TOTAL = 10**15  # minor units; far above any budget, far below 64-bit overflow
SETTLE_MAX_FACTOR = 4  # a plan waits at most this many settle windows after the first change it covers


class Timing(Strict):
    """When failover may act (hold_down and failback_after apply to channels, so they are global)."""

    hold_down: Delay = 120.0  # a channel must be down this long before its promotions move
    failback_after: Delay = 600.0  # and healthy this long before they move back
    # Channels that fail (or recover) together cross their delays a few seconds apart (each check runs at its
    # own phase of its interval): a plan waits until no channel's standing has changed for `settle`, at most
    # SETTLE_MAX_FACTOR x settle after the first change, so one outage is one plan out and one plan back.
    settle: Delay = 30.0
    # Moves that take money away from a channel (a new failure) in an hour before the promotion is frozen
    # instead: a channel that keeps failing and recovering. Giving back (failback) never counts, never refused.
    max_moves_per_hour: int = Field(4, ge=1, le=60)


class Actuator(KindEntry):
    """A way to change things on a channel (failover.actuators[]): id, kind and the kind's keys."""


class Placement(Strict):
    """A promotion on one channel: its normal share or amount, its caps, and how to change it."""

    share: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)  # relative weight; shares need not add up to 100
    amount: int | None = Field(None, ge=0, le=MAX_TOTAL)  # or a fixed amount in minor units
    min: int = Field(0, ge=0, le=MAX_TOTAL)  # never less than this while the channel is healthy
    max: int | None = Field(None, ge=0, le=MAX_TOTAL)  # never more than this
    actuator: Slug
    target: str = Field("", max_length=200)  # the object on the channel's side, e.g. a Meta ad set id
    # The channel its buyers land on (a Google Shopping or Meta ad that sends them to the own shop): while that
    # channel is failed over, this placement is failed over too, however healthy its own channel is.
    lands_on: Slug | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Placement:
        if (self.share is None) == (self.amount is None):
            raise ValueError("give either share (a weight, e.g. share: 50) or amount (minor units, e.g. amount: 20000)")
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min}); raise max or lower min")
        return self


class Schedule(Strict):
    """When a promotion runs; outside it failover leaves the promotion alone."""

    start: datetime | None = None
    end: datetime | None = None
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone; use an IANA name, e.g. Europe/Warsaw or UTC") from None
        return value

    def bounds(self) -> tuple[float | None, float | None]:
        zone = ZoneInfo(self.time_zone)
        return tuple(None if t is None else (t if t.tzinfo else t.replace(tzinfo=zone)).timestamp() for t in (self.start, self.end))  # type: ignore[return-value]

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        start, end = self.bounds()
        if start is not None and end is not None and end <= start:
            raise ValueError("end must be after start")
        return self


class Promotion(Strict):
    """A promotion spread over channels, and how it fails over."""

    id: Slug
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    total: int = Field(ge=1, le=MAX_TOTAL)  # minor units of `unit` (e.g. grosze for PLN), or a weight
    unit: str = "weight"  # ISO 4217 code (amounts in its minor units), or "weight"
    policy: Literal["proportional", "priority"] = "proportional"
    mode: Mode = "dry-run"  # money moves: nothing is applied until you choose auto or approve
    priority: list[Slug] = []  # policy priority: who gets a failed channel's part, in this order
    schedule: Schedule | None = None
    max_moves_per_hour: int | None = Field(None, ge=1, le=60)  # defaults to failover.timing's
    channels: dict[Slug, Placement] = Field(min_length=1)

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if value != "weight" and not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
            raise ValueError(
                f"{value!r} is not a unit; use an ISO 4217 currency code (PLN, EUR, USD: amounts in its minor units) or weight"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Promotion:
        kinds = {p.share is not None for p in self.channels.values()}
        if len(kinds) > 1:
            raise ValueError("channels mix share and amount; use shares for all of them or amounts for all")
        if kinds == {False}:
            given = sum(p.amount or 0 for p in self.channels.values())
            if given != self.total:
                raise ValueError(f"the channels' amounts add up to {given}, not the total {self.total}; make them add up, or use shares")
        elif sum(p.share or 0 for p in self.channels.values()) <= 0:
            raise ValueError("every share is 0; give at least one channel a share above 0")
        twice = sorted({c for c in self.priority if self.priority.count(c) > 1})
        if twice:
            raise ValueError(f"priority names {', '.join(twice)} more than once; list each channel once")
        unknown = [c for c in self.priority if c not in self.channels]
        if unknown:
            raise ValueError(f"priority names {', '.join(unknown)}, not among this promotion's channels ({', '.join(self.channels)})")
        return self


class Notice(Strict):
    """A customer notice: posted on other channels while one is failed over, withdrawn when it is back."""

    id: Slug
    when_down: Slug  # the channel whose outage the notice is about
    post_on: list[Slug] = Field(min_length=1)  # where to post it
    actuator: Slug
    target: str = Field("", max_length=200)
    text: str = Field(min_length=1, max_length=1000)
    mode: Mode = "dry-run"


class Failover(Strict):
    """Top-level `failover:` section."""

    timing: Timing = Timing()
    actuators: list[Actuator] = []
    promotions: list[Promotion] = []
    notices: list[Notice] = []

    def moves_limit(self, promotion: Promotion) -> int:
        return promotion.max_moves_per_hour or self.timing.max_moves_per_hour


def validate_failover(raw: Any, failover: Failover | None, channel_ids: set[str], actuators: dict[str, Any]) -> list[Problem]:
    """Check actuator options against their kind, and every name a promotion or notice refers to.

    `raw` is the `failover` mapping as read from YAML, so actuator problems are found even when other
    keys are wrong; the reference checks need the validated `failover`.
    """
    problems = validate_kind_entries(
        raw.get("actuators") if isinstance(raw, dict) else None,
        ("failover", "actuators"),
        failover.actuators if failover else None,
        actuators,
        "an actuator",
    )
    if failover is None:
        return problems
    refs = _References(channel_ids, [a.id for a in failover.actuators], problems)
    for kind, owners, check in (("promotion", failover.promotions, refs.promotion), ("notice", failover.notices, refs.notice)):
        seen: set[str] = set()
        for i, owner in enumerate(owners):
            loc = ("failover", f"{kind}s", i)
            if owner.id in seen:
                problems.append(Problem(loc + ("id",), f"{owner.id!r} is used by another {kind}; ids must be unique"))
            seen.add(owner.id)
            check(loc, owner)
    return problems


class _References:
    """Checks the channel and actuator names a promotion or notice refers to, adding a Problem for each bad one."""

    def __init__(self, channel_ids: set[str], actuators: list[str], problems: list[Problem]) -> None:
        self.channel_ids, self.actuators, self.problems = channel_ids, actuators, problems

    def channel(self, loc: tuple, name: str) -> None:
        if name not in self.channel_ids:
            self.problems.append(Problem(loc, f"{name!r} is not a channel id; use one of: {', '.join(sorted(self.channel_ids))}"))

    def actuator(self, loc: tuple, name: str) -> None:
        if name not in self.actuators:
            hint = (
                f"use one of: {', '.join(self.actuators)}"
                if self.actuators
                else "add it under failover.actuators (kind: webhook, meta_ads or log)"
            )
            self.problems.append(Problem(loc, f"{name!r} is not an actuator id; {hint}"))

    def promotion(self, loc: tuple, promo: Promotion) -> None:
        from monitor.failover.plan import normal_amounts  # plan imports this module

        normal = normal_amounts(promo)
        for channel, placement in promo.channels.items():
            where = loc + ("channels", channel)
            self.channel(where, channel)
            self.actuator(where + ("actuator",), placement.actuator)
            if placement.lands_on == channel:
                self.problems.append(
                    Problem(
                        where + ("lands_on",),
                        f"{channel!r} is this placement's own channel; name the channel its buyers land on, or leave lands_on out",
                    )
                )
            elif placement.lands_on is not None:
                self.channel(where + ("lands_on",), placement.lands_on)
            cap = placement.max if placement.max is not None else promo.total
            if not placement.min <= normal[channel] <= cap:
                self.problems.append(
                    Problem(
                        where,
                        f"its normal amount {normal[channel]} is outside "
                        f"min {placement.min} .. max {cap}; change the share/amount or the caps",
                    )
                )

    def notice(self, loc: tuple, notice: Notice) -> None:
        self.channel(loc + ("when_down",), notice.when_down)
        for k, channel in enumerate(notice.post_on):
            self.channel(loc + ("post_on", k), channel)
            if channel == notice.when_down:
                self.problems.append(Problem(loc + ("post_on", k), f"{channel!r} is the channel that is down; post the notice elsewhere"))
        self.actuator(loc + ("actuator",), notice.actuator)


def allowed_keys(names: list[str]) -> list[str] | None:
    """Keys allowed at a location under `failover`, for 'unknown key' messages (None: not ours)."""
    table = {
        ("failover",): Failover,
        ("failover", "timing"): Timing,
        ("failover", "promotions"): Promotion,
        ("failover", "promotions", "schedule"): Schedule,
        ("failover", "notices"): Notice,
        ("failover", "actuators"): Actuator,
    }
    if tuple(names) in table:
        return list(table[tuple(names)].model_fields)
    if names[:3] == ["failover", "promotions", "channels"]:
        return list(Placement.model_fields)
    return None
