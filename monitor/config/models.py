"""The configuration's models: what each key of the file is, its type and its default (docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, SecretStr, field_validator, model_validator

from alerts.config import Alerts
from monitor.check_spec import CheckSpec
from monitor.core.durations import Delay, Duration, format_duration
from monitor.core.models import Slug, Strict
from monitor.core.redact import redact_url
from monitor.failover.config import Failover
from monitor.flapping import FlapSettings
from monitor.health import Rules, Thresholds
from monitor.maintenance import Window, cron_trigger

DEFAULT_DATA_DIR = "data"  # relative to where the service starts (the demo too)


# How many voting locations must see a check down for it to be down (monitor/quorum.py): "majority" (more than
# half of them) or a number. Only the distributed decider (--role decide) has several locations to count.
def _quorum(value: object) -> str | int:
    if value == "majority":
        return "majority"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        return value
    raise ValueError(f"{value!r} is not a quorum; use majority, or how many locations must see a check down (1 to 100), e.g. 2")


Quorum = Annotated[Literal["majority"] | int, PlainValidator(_quorum)]
ROLES = ("all", "probe", "decide", "relay", "web")
Role = Literal["all", "probe", "decide", "relay", "web"]
MIN_INTERVAL = 0.1  # below this a check only measures the monitor itself


class Defaults(Strict):
    """Values every channel and check inherits unless it sets its own."""

    interval: Duration = 60.0
    timeout: Duration = 10.0
    fail_threshold: int = Field(3, ge=1, le=100)
    recover_threshold: int = Field(2, ge=1, le=100)
    quorum: Quorum = "majority"


class Check(BaseModel):
    """One `checks:` entry as written in the file. Keys other than the common ones belong to the probe kind;
    parse_config resolves each entry into a CheckSpec (defaults applied, options validated), which is what
    `Channel.checks` gives the rest of the service."""

    # extra="allow" only so the kind-specific keys survive until parse_config validates them
    # against the probe's own model; no unknown key reaches the running service.
    model_config = ConfigDict(extra="allow", frozen=True)

    id: Slug | None = None
    kind: str
    target: str
    interval: Duration | None = None
    timeout: Duration | None = None
    conditions: list[str] = []  # see monitor/conditions.py; all must hold for the check to pass
    on_failure: Literal["down", "degraded"] = "down"  # "degraded": this check alone never takes the channel down
    quorum: Quorum | None = None  # else the channel's, else defaults.quorum


class _HasChecks(Strict):
    """A model with a `checks:` list: the entries as written, and the resolved CheckSpecs parse_config sets."""

    # The file's key is `checks`; the attribute of that name is the resolved list (see `checks` below).
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    check_entries: list[Check] = Field([], alias="checks")
    _checks: tuple[CheckSpec, ...] = PrivateAttr(default=())

    @property
    def checks(self) -> tuple[CheckSpec, ...]:
        """The checks with every default applied (set by parse_config; empty on a model built by hand)."""
        return self._checks


class MaintenanceWindow(Strict):
    """Planned maintenance: one-off (start, end) or recurring (cron, duration, time_zone)."""

    reason: str = Field("planned maintenance", min_length=1, max_length=200)
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    duration: Duration | None = None
    time_zone: str = "UTC"

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        one_off, recurring = self.start is not None or self.end is not None, self.cron is not None or self.duration is not None
        if one_off == recurring:
            raise ValueError("give either start and end (one-off) or cron and duration (recurring)")
        if one_off and (self.start is None or self.end is None):
            raise ValueError("a one-off window needs both start and end, e.g. start: 2026-12-01T02:00:00+01:00")
        if recurring and (self.cron is None or self.duration is None):
            raise ValueError("a recurring window needs both cron and duration, e.g. cron: '0 2 * * sun', duration: 2h")
        if self.cron is not None:
            cron_trigger(self.cron, self.time_zone)  # raises ValueError with the fix
        else:
            cron_trigger("0 0 * * *", self.time_zone)  # validates the zone
        if one_off and self.window().end <= self.window().start:  # type: ignore[operator]
            raise ValueError("end must be after start")
        return self

    def window(self) -> Window:
        """The pure form the health state machine uses (times as Unix seconds)."""
        if self.cron is not None:
            return Window(self.reason, cron=self.cron, duration=self.duration, time_zone=self.time_zone)
        zone = ZoneInfo(self.time_zone)
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (self.start, self.end))  # type: ignore[union-attr]
        return Window(self.reason, start=start.timestamp(), end=end.timestamp(), time_zone=self.time_zone)


class Flapping(Strict):
    """Nagios-style flap detection over each channel's recent results."""

    samples: int = Field(21, ge=5, le=200)
    high: float = Field(50.0, gt=0, le=100)
    low: float = Field(25.0, ge=0, lt=100)
    # Results needed before a channel is judged: fewer catch a flapping channel sooner (6: after three ok/fail
    # cycles), but two quick blips in a row then already count as flapping.
    min_samples: int = Field(6, ge=3, le=200)
    # A channel down again within this time of recovering continues its last incident (one incident, one
    # alert thread) instead of opening a new one.
    reopen_within: Delay = 300.0

    @model_validator(mode="after")
    def _low_below_high(self) -> Flapping:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g}); e.g. low: 25, high: 50")
        if self.min_samples > self.samples:
            raise ValueError(
                f"min_samples ({self.min_samples}) must be at most samples ({self.samples}); e.g. min_samples: {min(6, self.samples)}"
            )
        return self


class Connectivity(_HasChecks):
    """The "is it us?" guard: when it trips, channel states freeze and no failover runs."""

    # checks: control targets, e.g. public resolvers and a CDN; validated like channel checks
    max_failing_share: float = Field(0.75, gt=0, le=1)  # more channels than this failing at once: it is us
    min_channels: int = Field(3, ge=1)  # the share rule needs at least this many channels


class Probing(Strict):
    """How many probes may run at once, and how late a run may start (monitor/scheduler.py)."""

    # Runs beyond this many probes in flight are skipped and counted as missed: a bounded monitor degrades by
    # telling you, instead of starting ever more probes that all time out together.
    max_in_flight: int = Field(1000, ge=1, le=100_000)
    # A run the event loop reaches later than this after its time is skipped (and counted), never started late:
    # a late start would spend the check's timeout on our own queue and report the shop as slow or down.
    late_after: Duration = 1.0
    # Probers of one location share its checks (--role probe): each says it is alive every `heartbeat`; one
    # silent for `heartbeat_timeout` is taken for dead and its checks move to the others (within two timeouts).
    heartbeat: Duration = 1.0
    heartbeat_timeout: Duration = 5.0

    @model_validator(mode="after")
    def _timeout_outlasts_beats(self) -> Probing:
        if self.heartbeat_timeout < 2 * self.heartbeat:
            raise ValueError(
                f"heartbeat_timeout ({format_duration(self.heartbeat_timeout)}) must be at least twice heartbeat "
                f"({format_duration(self.heartbeat)}): one late beat must not make a live prober look dead; "
                "e.g. heartbeat: 1s, heartbeat_timeout: 5s"
            )
        return self


class Retention(Strict):
    """How long history is kept: raw results, then their hourly and daily rollups (monitor/store/rollups.py)."""

    raw: Duration = 7 * 86400.0
    hourly: Duration = 90 * 86400.0
    daily: Duration = 730 * 86400.0

    @model_validator(mode="after")
    def _rollups_outlive_raw(self) -> Retention:
        if not self.raw <= self.hourly <= self.daily:
            raise ValueError(
                f"raw ({format_duration(self.raw)}) must be at most hourly ({format_duration(self.hourly)}), "
                f"and hourly at most daily ({format_duration(self.daily)}): rollups are made from what "
                "they replace; e.g. raw: 7d, hourly: 90d, daily: 730d"
            )
        return self


class Channel(_HasChecks):
    """A sales channel: what the seller calls it and how to check it."""

    id: Slug
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")  # one line in logs
    group: Literal["own_shop", "marketplace", "social", "comparison", "messaging", "other"] = "other"
    fail_threshold: int | None = Field(None, ge=1, le=100)
    recover_threshold: int | None = Field(None, ge=1, le=100)
    # How many checks must be down for the channel to be down ("any" = 1, "all", or a number);
    # fewer down checks make it degraded.
    down_when: Literal["any", "all"] | Annotated[int, Field(ge=1, le=100)] = "any"
    min_state_time: Duration | None = None  # hold a state at least this long before the checks change it
    quorum: Quorum | None = None  # for its checks that set none; else defaults.quorum
    tags: list[Slug] = []  # free labels for alert routes, e.g. [paid-ads, vip]
    maintenance: list[MaintenanceWindow] = []
    check_entries: list[Check] = Field(alias="checks", min_length=1)

    @property
    def down_capable(self) -> int:
        """How many checks can take the channel down (on_failure: degraded ones only degrade it)."""
        return sum(1 for c in self.check_entries if c.on_failure == "down")

    @model_validator(mode="after")
    def _down_when_reachable(self) -> Channel:
        # More than the channel has could never be reached: the channel would never go down.
        n = self.down_capable
        if isinstance(self.down_when, int) and self.down_when > n:
            others = len(self.check_entries) - n
            raise ValueError(
                f"down_when is {self.down_when} but channel {self.id!r} has {n} check{'s' if n != 1 else ''} "
                "that can take it down"
                + (f" ({others} more with on_failure: degraded)" if others else "")
                + f", so it could never be down; use a number up to {n}, or 'all'"
            )
        return self


class Config(Strict):
    """The whole service configuration."""

    listen: str = "127.0.0.1:8080"
    data_dir: str = DEFAULT_DATA_DIR
    database_url: str | None = None
    log_format: Literal["text", "json"] = "text"
    # Where this instance probes from (e.g. waw, fra-1): stored with every result, so that results from several
    # locations can be told apart (--location overrides it).
    location: Slug = "local"
    # Which part of the service this process runs (--role overrides it): all (one process, the default), or on
    # PostgreSQL one of probe, decide, relay, web (docs/distributed.md).
    role: Role = "all"
    # Private, loopback and link-local networks probes may reach (public addresses always may;
    # cloud metadata addresses never). E.g. ["10.0.0.0/8"] for a shop on the office network.
    allow_networks: list[str] = []
    # Bearer token for the admin API (maintenance, overrides); off when unset. Use ${ENV}: admin_token: ${CM_ADMIN_TOKEN}
    admin_token: SecretStr | None = None
    defaults: Defaults = Defaults()
    flapping: Flapping = Flapping()
    connectivity: Connectivity = Connectivity()
    retention: Retention = Retention()
    probing: Probing = Probing()
    channels: list[Channel] = Field(min_length=1)
    failover: Failover = Failover()
    alerts: Alerts = Alerts()  # notifiers (Slack, e-mail, webhook) and routes; the log always gets every alert
    # Show promotions' allocations on the status page and GET /api/failover without the admin token.
    # They reveal budgets: leave it false if the status page is public.
    show_failover: bool = False  # promotions and notices to move when a channel is down (dry-run by default)

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(sqlite:///.+|postgresql(\+\w+)?://.+)$", value):
            raise ValueError(
                f"{redact_url(value)!r} is not a database URL; use sqlite:///path/to/file.db or postgresql://user:password@host/dbname"
            )
        return value

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a network; write an address or CIDR, e.g. 127.0.0.0/8 or 10.1.2.3") from None
        return values

    @property
    def sqlite_path(self) -> Path:
        return Path(self.data_dir) / "channel-monitor.db"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def check_thresholds(self, channel: Channel) -> tuple[int, int]:
        """Return (fail, recover) thresholds for a channel, defaults applied."""
        return (channel.fail_threshold or self.defaults.fail_threshold, channel.recover_threshold or self.defaults.recover_threshold)

    def rules(self, channel: Channel) -> Rules:
        """How the channel's checks become its state, for the health state machine."""
        # "all" counts the checks that can take the channel down: degrade-only ones never reach down.
        down_when = {"any": 1, "all": max(1, channel.down_capable)}.get(channel.down_when, channel.down_when)  # type: ignore[arg-type]
        return Rules(
            Thresholds(*self.check_thresholds(channel)),
            down_when,
            channel.min_state_time or 0.0,
            frozenset(c.id for c in channel.checks if c.on_failure == "degraded" and c.id),
            FlapSettings(
                self.flapping.samples, self.flapping.high, self.flapping.low, self.flapping.min_samples, self.flapping.reopen_within
            ),
        )


def parse_listen(value: str) -> tuple[str, int]:
    """Split 'host:port' (or '[v6]:port') into its parts; raise ValueError with the fix."""
    match = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", value.strip())
    if not match or not 0 <= int(match.group(2)) <= 65535:
        raise ValueError(f"{value!r} is not an address to listen on; write host:port, e.g. 127.0.0.1:8080")
    return match.group(1) or "127.0.0.1", int(match.group(2))
