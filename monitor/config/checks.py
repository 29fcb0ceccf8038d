"""Each `checks:` entry validated against its probe kind and resolved into a CheckSpec (defaults applied)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from alerts import config as alerts_config
from monitor.check_spec import CheckSpec
from monitor.conditions import ConditionError, parse_condition
from monitor.config.models import (
    MIN_INTERVAL,
    Channel,
    Check,
    Config,
    Connectivity,
    Defaults,
    Flapping,
    MaintenanceWindow,
    Probing,
    Retention,
)
from monitor.config_errors import Problem, problems_from_validation
from monitor.core.durations import format_duration
from monitor.failover import config as failover_config
from probes.base import ProbeConfig, ProbeKind


def allowed_keys(probes: Mapping[str, ProbeKind], data: Any):
    """Return a function giving the keys allowed at a location, for 'unknown key' messages."""

    def allowed(loc: tuple) -> list[str]:
        names = [p for p in loc if isinstance(p, str)]
        if names == []:
            return _keys(Config)
        if names == ["defaults"]:
            return _keys(Defaults)
        if names == ["flapping"]:
            return _keys(Flapping)
        if names == ["connectivity"]:
            return _keys(Connectivity)
        if names == ["retention"]:
            return _keys(Retention)
        if names == ["probing"]:
            return _keys(Probing)
        if names and names[0] == "failover":
            return failover_config.allowed_keys(names) or []
        if names and names[0] == "alerts":
            return alerts_config.allowed_keys(names) or []
        if names == ["channels", "maintenance"]:
            return _keys(MaintenanceWindow)
        if names == ["channels"]:
            return _keys(Channel)
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


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a model takes in the file (a field's alias where it has one)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _check_lists(data: dict, config: Config | None):
    """Every list of checks in the file: (location, raw list, validated list or None)."""
    channels = data.get("channels") if isinstance(data.get("channels"), list) else []
    for ci, raw_channel in enumerate(channels):
        raw_checks = raw_channel.get("checks") if isinstance(raw_channel, dict) else None
        yield ("channels", ci, "checks"), raw_checks, config.channels[ci] if config else None
    raw_connectivity = data.get("connectivity")
    if isinstance(raw_connectivity, dict):
        yield ("connectivity", "checks"), raw_connectivity.get("checks"), config.connectivity if config else None


def validate_checks(data: dict, config: Config | None, probes: Mapping[str, ProbeKind], allowed) -> list[Problem]:
    """Validate each check's kind, target and kind-specific keys; attach options when config is valid.

    Works on the raw data so that these problems are reported even when other keys are wrong too.
    """
    problems: list[Problem] = []
    # Equal options make one (frozen) model: thousands of checks often share theirs, e.g. the same
    # body_contains, and 10,000 copies of a model with a dozen fields were megabytes. repr() tells the YAML
    # types apart ('1' from 1, 1 from 1.0 and True), so equal keys are equal inputs.
    shared: dict[tuple[str, str], ProbeConfig] = {}
    for prefix, raw_checks, owner in _check_lists(data, config):
        specs: list[CheckSpec] = []
        for ki, raw in enumerate(raw_checks if isinstance(raw_checks, list) else []):
            if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
                continue
            loc = prefix + (ki,)
            kind = probes.get(raw["kind"])
            if kind is None:
                problems.append(Problem(loc + ("kind",), f"{raw['kind']!r} is not a probe kind; use one of: {', '.join(sorted(probes))}"))
                continue
            extras = {k: v for k, v in raw.items() if k not in Check.model_fields}
            key = (raw["kind"], repr(extras))
            options = shared.get(key)
            if options is None:
                try:
                    options = shared[key] = kind.config.model_validate(extras)
                except ValidationError as exc:
                    problems.extend(problems_from_validation(exc, loc, allowed))
                    continue
            target = None
            if isinstance(raw.get("target"), str):
                try:
                    target = kind.check_target(raw["target"])
                except ValueError as exc:
                    problems.append(Problem(loc + ("target",), str(exc)))
            if owner is not None and config is not None and target is not None:
                quorum = getattr(owner, "quorum", None)  # a channel's; the connectivity checks have none
                spec, found = _resolve_check(config, owner.check_entries[ki], kind, target, options, loc, quorum)
                specs.append(spec)
                problems.extend(found)
        if owner is not None and len(specs) == len(owner.check_entries):
            owner._checks = tuple(specs)
            for entry in owner.check_entries:
                if entry.__pydantic_extra__:
                    entry.__pydantic_extra__.clear()  # the kind's keys now live in the spec's options
    if config is not None:
        problems.extend(_unique_ids(config))
    return problems


def _resolve_check(
    config: Config, check: Check, kind: ProbeKind, target: str, options: ProbeConfig, loc: tuple, channel_quorum: str | int | None
) -> tuple[CheckSpec, list[Problem]]:
    """The entry with the defaults applied, its options and conditions parsed (and what is wrong with it)."""
    problems: list[Problem] = []
    parsed = []
    for i, text in enumerate(check.conditions):
        try:
            parsed.append(parse_condition(text, kind.placeholders))
        except ConditionError as exc:
            problems.append(Problem(loc + ("conditions", i), str(exc)))
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
    if timeout > interval:
        problems.append(
            Problem(
                loc + ("timeout",),
                f"{format_duration(timeout)} is longer than the interval "
                f"{format_duration(interval)}; a check's timeout must be at most its interval",
            )
        )
    quorum = check.quorum or channel_quorum or config.defaults.quorum
    spec = CheckSpec(check.id or check.kind, check.kind, target, interval, timeout, options, tuple(parsed), check.on_failure, quorum)
    return spec, problems


def _unique_ids(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    seen_channels: set[str] = set()
    for ci, channel in enumerate(config.channels):
        if channel.id in seen_channels:
            problems.append(Problem(("channels", ci, "id"), f"{channel.id!r} is used by another channel; channel ids must be unique"))
        seen_channels.add(channel.id)
        seen_checks: set[str] = set()
        for ki, entry in enumerate(channel.check_entries):
            name = entry.id or entry.kind  # the name its CheckSpec gets
            if name in seen_checks:
                problems.append(
                    Problem(
                        ("channels", ci, "checks", ki, "id"),
                        f"two checks of channel {channel.id!r} are both named {name!r}; give each an 'id'",
                    )
                )
            seen_checks.add(name)
    return problems
