"""Typed, strict configuration: the YAML file becomes these models or a list of precise errors."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

from alerts import config as alerts_config
from alerts.config import Alerts
from monitor.conditions import Condition, ConditionError, parse_condition
from monitor.config_errors import ConfigError, Problem, StrictLoader, problems_from_validation, yaml_line_map
from monitor.core.durations import Delay, Duration, format_duration
from monitor.core.models import Slug, Strict
from monitor.core.redact import redact_url, url_origin
from monitor.failover import config as failover_config
from monitor.failover.config import Failover
from monitor.flapping import FlapSettings
from monitor.health import Rules, Thresholds
from monitor.maintenance import Window, cron_trigger
from probes.base import ProbeConfig, ProbeKind
from probes.guard import NetworkGuard

DEFAULT_DATA_DIR = "data"  # relative to where the service starts (the demo too)
MIN_INTERVAL = 0.1  # below this a check only measures the monitor itself
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}


class Defaults(Strict):
    """Values every channel and check inherits unless it sets its own."""

    interval: Duration = 60.0
    timeout: Duration = 10.0
    fail_threshold: int = Field(3, ge=1, le=100)
    recover_threshold: int = Field(2, ge=1, le=100)


class Check(BaseModel):
    """One check of a channel. Keys other than the common ones belong to the probe kind."""

    # extra="allow" only so the kind-specific keys survive until load_config validates them
    # against the probe's own model; no unknown key reaches the running service.
    model_config = ConfigDict(extra="allow", frozen=True)

    id: Slug | None = None
    kind: str
    target: str
    interval: Duration | None = None
    timeout: Duration | None = None
    conditions: list[str] = []  # see monitor/conditions.py; all must hold for the check to pass
    on_failure: Literal["down", "degraded"] = "down"  # "degraded": this check alone never takes the channel down
    _options: ProbeConfig | None = PrivateAttr(default=None)
    _conditions: tuple[Condition, ...] = PrivateAttr(default=())

    @property
    def options(self) -> ProbeConfig:
        """The validated kind-specific options."""
        assert self._options is not None, "load_config sets options"
        return self._options

    @property
    def parsed_conditions(self) -> tuple[Condition, ...]:
        return self._conditions

    @property
    def ref(self) -> str:
        """The check's name within its channel: its id (load_config gives a check without one its kind)."""
        return self.id or self.kind

    @property
    def interval_seconds(self) -> float:
        assert self.interval is not None, "load_config applies defaults"
        return self.interval

    @property
    def timeout_seconds(self) -> float:
        assert self.timeout is not None, "load_config applies defaults"
        return self.timeout


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


class Connectivity(Strict):
    """The "is it us?" guard: when it trips, channel states freeze and no failover runs."""

    checks: list[Check] = []  # control targets, e.g. public resolvers and a CDN; validated like channel checks
    max_failing_share: float = Field(0.75, gt=0, le=1)  # more channels than this failing at once: it is us
    min_channels: int = Field(3, ge=1)  # the share rule needs at least this many channels


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


class Channel(Strict):
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
    tags: list[Slug] = []  # free labels for alert routes, e.g. [paid-ads, vip]
    maintenance: list[MaintenanceWindow] = []
    checks: list[Check] = Field(min_length=1)

    @property
    def down_capable(self) -> int:
        """How many checks can take the channel down (on_failure: degraded ones only degrade it)."""
        return sum(1 for c in self.checks if c.on_failure == "down")

    @model_validator(mode="after")
    def _down_when_reachable(self) -> Channel:
        # More than the channel has could never be reached: the channel would never go down.
        n = self.down_capable
        if isinstance(self.down_when, int) and self.down_when > n:
            others = len(self.checks) - n
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
    # Private, loopback and link-local networks probes may reach (public addresses always may;
    # cloud metadata addresses never). E.g. ["10.0.0.0/8"] for a shop on the office network.
    allow_networks: list[str] = []
    # Bearer token for the admin API (maintenance, overrides); off when unset. Use ${ENV}: admin_token: ${CM_ADMIN_TOKEN}
    admin_token: SecretStr | None = None
    defaults: Defaults = Defaults()
    flapping: Flapping = Flapping()
    connectivity: Connectivity = Connectivity()
    retention: Retention = Retention()
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


def load_config(path: str | Path, probes: Mapping[str, ProbeKind]) -> Config:
    """Read, substitute ${ENV} references, and validate a config file; raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem((), f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [Problem((), f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")]) from None
    return parse_config(text, probes, source=str(path))


def parse_config(
    text: str,
    probes: Mapping[str, ProbeKind],
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    actuators: Mapping[str, Any] | None = None,
    notifiers: Mapping[str, Any] | None = None,
) -> Config:
    """Validate config text; every problem is reported at once, with its key path and line."""
    try:
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
        lines = yaml_line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(source, [Problem((), f"{where}not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem((), "the file must be a YAML mapping with a 'channels' list")])
    problems: list[Problem] = []
    secrets: dict[str, str] = {}
    data = _substitute_env(data, (), os.environ if environ is None else environ, problems, secrets)
    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, (), _allowed_keys(probes, data)))
    problems.extend(_validate_checks(data, config, probes, _allowed_keys(probes, data)))
    if actuators is None:
        from monitor.failover.actuators import ACTUATORS as actuators  # the built-in registry
    channel_ids = {c["id"] for c in data.get("channels") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)}
    problems.extend(
        failover_config.validate_failover(data.get("failover"), config.failover if config else None, channel_ids, dict(actuators))
    )
    if notifiers is None:
        from alerts import NOTIFIERS as notifiers  # the built-in registry
    problems.extend(alerts_config.validate_alerts(data.get("alerts"), config.alerts if config else None, channel_ids, dict(notifiers)))
    if config is not None and not problems:
        problems.extend(_unreachable_urls(config))
    # A value with a missing ${VAR} is reported once, not again for being empty afterwards.
    env_locs = {p.loc for p in problems if p.message.startswith("environment variable")}
    problems = [p for p in problems if p.loc not in env_locs or p.message.startswith("environment variable")]
    if problems:
        # A value that came from the environment may be a token: show the reference, not the value.
        for value, reference in sorted(secrets.items(), key=lambda item: -len(item[0])):
            problems = [Problem(p.loc, p.message.replace(value, reference)) for p in problems]
        raise ConfigError(source, problems, lines)
    assert config is not None
    return config


def _unreachable_urls(config: Config) -> list[Problem]:
    """Notifier and actuator URLs the network guard would refuse, found now rather than at the first alert:
    an address literal (or localhost) outside allow_networks, a metadata or link-local address, an ambiguous
    spelling such as 127.1. Shown as scheme and host only: a webhook's path is a secret."""
    guard = NetworkGuard(config.allow_networks)
    entries = [(("alerts", "notifiers"), e) for e in config.alerts.notifiers]
    entries += [(("failover", "actuators"), e) for e in config.failover.actuators]
    problems = []
    for i, (loc, entry) in enumerate(entries):
        index = i if loc[0] == "alerts" else i - len(config.alerts.notifiers)
        for name in type(entry.options).model_fields:
            value = getattr(entry.options, name)
            url = value.get_secret_value() if isinstance(value, SecretStr) else value
            if name == "host" and isinstance(url, str):  # an SMTP server's host name or address
                url = f"smtp://{url if ':' not in url else f'[{url}]'}"
            elif not (name.endswith("url") and isinstance(url, str)):
                continue
            why = guard.host_problem(urlsplit(url).hostname or "")
            if why:
                fix = (
                    "it is never allowed; use another address"
                    if "always blocked" in why
                    else "add its network to allow_networks (e.g. allow_networks: [127.0.0.0/8] for a receiver on this "
                    "machine, [10.0.0.0/8] for one on your network)"
                    if "allow_networks" in why
                    else ""
                )
                why = why.replace(" (allow it with allow_networks)", "")
                problems.append(Problem(loc + (index, name), f"{url_origin(url)} would be refused: {why}" + (f"; {fix}" if fix else "")))
    return problems


def _substitute_env(value: Any, loc: tuple, environ: Mapping[str, str], problems: list[Problem], secrets: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, loc + (k,), environ, problems, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, loc + (i,), environ, problems, secrets) for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name not in environ and default is not None:
                return default
            if name not in environ:
                problems.append(Problem(loc, f"environment variable {name} is not set; export it or remove ${{{name}}}"))
                return ""
            if len(environ[name]) >= 4:  # shorter values would redact ordinary words
                secrets[environ[name]] = f"${{{name}}}"
            return environ[name]

        return _ENV_REF.sub(replace, value)
    return value


def _allowed_keys(probes: Mapping[str, ProbeKind], data: Any):
    """Return a function giving the keys allowed at a location, for 'unknown key' messages."""

    def allowed(loc: tuple) -> list[str]:
        names = [p for p in loc if isinstance(p, str)]
        if names == []:
            return list(Config.model_fields)
        if names == ["defaults"]:
            return list(Defaults.model_fields)
        if names == ["flapping"]:
            return list(Flapping.model_fields)
        if names == ["connectivity"]:
            return list(Connectivity.model_fields)
        if names == ["retention"]:
            return list(Retention.model_fields)
        if names and names[0] == "failover":
            return failover_config.allowed_keys(names) or []
        if names and names[0] == "alerts":
            return alerts_config.allowed_keys(names) or []
        if names == ["channels", "maintenance"]:
            return list(MaintenanceWindow.model_fields)
        if names == ["channels"]:
            return list(Channel.model_fields)
        if names in (["channels", "checks"], ["connectivity", "checks"]):
            common = list(Check.model_fields)
            try:
                owner = data["channels"][loc[1]] if names[0] == "channels" else data["connectivity"]
                kind = owner["checks"][loc[-1]]["kind"]
            except (KeyError, IndexError, TypeError):
                return common
            return common + (list(probes[kind].config.model_fields) if kind in probes else [])
        return []

    return allowed


def _check_lists(data: dict, config: Config | None):
    """Every list of checks in the file: (location, raw list, validated list or None)."""
    channels = data.get("channels") if isinstance(data.get("channels"), list) else []
    for ci, raw_channel in enumerate(channels):
        raw_checks = raw_channel.get("checks") if isinstance(raw_channel, dict) else None
        yield ("channels", ci, "checks"), raw_checks, config.channels[ci].checks if config else None
    raw_connectivity = data.get("connectivity")
    if isinstance(raw_connectivity, dict):
        yield ("connectivity", "checks"), raw_connectivity.get("checks"), config.connectivity.checks if config else None


def _validate_checks(data: dict, config: Config | None, probes: Mapping[str, ProbeKind], allowed) -> list[Problem]:
    """Validate each check's kind, target and kind-specific keys; attach options when config is valid.

    Works on the raw data so that these problems are reported even when other keys are wrong too.
    """
    problems: list[Problem] = []
    for prefix, raw_checks, checks in _check_lists(data, config):
        for ki, raw in enumerate(raw_checks if isinstance(raw_checks, list) else []):
            if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
                continue
            loc = prefix + (ki,)
            kind = probes.get(raw["kind"])
            if kind is None:
                problems.append(Problem(loc + ("kind",), f"{raw['kind']!r} is not a probe kind; use one of: {', '.join(sorted(probes))}"))
                continue
            extras = {k: v for k, v in raw.items() if k not in Check.model_fields}
            try:
                options = kind.config.model_validate(extras)
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, loc, allowed))
                continue
            target = None
            if isinstance(raw.get("target"), str):
                try:
                    target = kind.check_target(raw["target"])
                except ValueError as exc:
                    problems.append(Problem(loc + ("target",), str(exc)))
            if checks is not None and target is not None:
                check = checks[ki]
                object.__setattr__(check, "target", target)  # the kind's normal form, e.g. an IDN in ASCII
                problems.extend(_finish_check(config, check, kind, options, loc))
    if config is not None:
        problems.extend(_unique_ids(config))
    return problems


def _finish_check(config: Config, check: Check, kind: ProbeKind, options: ProbeConfig, loc: tuple) -> list[Problem]:
    """Attach the validated options and conditions, and fill in the check's defaults."""
    problems: list[Problem] = []
    check._options = options
    parsed = []
    for i, text in enumerate(check.conditions):
        try:
            parsed.append(parse_condition(text, kind.placeholders))
        except ConditionError as exc:
            problems.append(Problem(loc + ("conditions", i), str(exc)))
    check._conditions = tuple(parsed)
    interval = check.interval or config.defaults.interval
    timeout = check.timeout or min(config.defaults.timeout, interval)
    if interval < MIN_INTERVAL:
        problems.append(
            Problem(
                loc + ("interval",),
                f"{format_duration(interval)} is too often; a check runs at most "
                f"every {format_duration(MIN_INTERVAL)} (1s or more is usual)",
            )
        )
    # The model is frozen for everyone else; load_config is where its defaults are decided.
    object.__setattr__(check, "id", check.id or check.kind)
    object.__setattr__(check, "interval", interval)
    object.__setattr__(check, "timeout", timeout)
    if check.__pydantic_extra__:
        check.__pydantic_extra__.clear()  # the kind-specific keys now live in options
    if timeout > interval:
        problems.append(
            Problem(
                loc + ("timeout",),
                f"{format_duration(timeout)} is longer than the interval "
                f"{format_duration(interval)}; a check's timeout must be at most its interval",
            )
        )
    return problems


def _unique_ids(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    seen_channels: set[str] = set()
    for ci, channel in enumerate(config.channels):
        if channel.id in seen_channels:
            problems.append(Problem(("channels", ci, "id"), f"{channel.id!r} is used by another channel; channel ids must be unique"))
        seen_channels.add(channel.id)
        seen_checks: set[str] = set()
        for ki, check in enumerate(channel.checks):
            if check.id in seen_checks:
                problems.append(
                    Problem(
                        ("channels", ci, "checks", ki, "id"),
                        f"two checks of channel {channel.id!r} are both named {check.id!r}; give each an 'id'",
                    )
                )
            seen_checks.add(check.id or "")
    return problems
