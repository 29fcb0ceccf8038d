"""Reading a config file: YAML, ${ENV} references, the models, then every problem at once with its key path and line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerts import config as alerts_config
from monitor.config.checks import allowed_keys, validate_checks
from monitor.config.models import Config
from monitor.config.outbound import unreachable_urls
from monitor.config_errors import ConfigError, Problem, compose_yaml, line_map, load_yaml, problems_from_validation
from monitor.failover import config as failover_config
from monitor.registries import Registries

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}


def load_config(path: str | Path, registries: Registries | None = None) -> Config:
    """Read, substitute ${ENV} references, and validate a config file; raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem((), f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [Problem((), f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")]) from None
    return parse_config(text, registries, source=str(path))


def parse_config(
    text: str,
    registries: Registries | None = None,
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate config text against the kinds of `registries` (the built-in ones by default); every problem is
    reported at once, with its key path and line."""
    kinds = registries if registries is not None else Registries()
    probes = kinds.probes
    try:
        data, document = load_yaml(text)
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
        problems.extend(problems_from_validation(exc, (), allowed_keys(probes, data)))
    problems.extend(validate_checks(data, config, probes, allowed_keys(probes, data)))
    channel_ids = {c["id"] for c in data.get("channels") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)}
    problems.extend(
        failover_config.validate_failover(data.get("failover"), config.failover if config else None, channel_ids, dict(kinds.actuators))
    )
    alerts = config.alerts if config else None
    problems.extend(alerts_config.validate_alerts(data.get("alerts"), alerts, channel_ids, dict(kinds.notifiers)))
    if config is not None and not problems:
        problems.extend(unreachable_urls(config))
    # A value with a missing ${VAR} is reported once, not again for being empty afterwards.
    env_locs = {p.loc for p in problems if p.message.startswith("environment variable")}
    problems = [p for p in problems if p.loc not in env_locs or p.message.startswith("environment variable")]
    if problems:
        # A value that came from the environment may be a token: show the reference, not the value.
        for value, reference in sorted(secrets.items(), key=lambda item: -len(item[0])):
            problems = [Problem(p.loc, p.message.replace(value, reference)) for p in problems]
        raise ConfigError(source, problems, line_map(document if document is not None else compose_yaml(text)))
    assert config is not None
    return config


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
