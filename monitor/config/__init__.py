"""Typed, strict configuration: the YAML file becomes these models or a list of precise errors.

models.py says what each key is; load.py reads a file (YAML, ${ENV}, every problem at once); checks.py resolves
each check against its probe kind; outbound.py finds notifier and actuator addresses the guard would refuse."""

from monitor.check_spec import CheckSpec
from monitor.config.load import load_config, parse_config
from monitor.config.models import (
    DEFAULT_DATA_DIR,
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
    parse_listen,
)
from monitor.config_errors import ConfigError, Problem

__all__ = [
    "DEFAULT_DATA_DIR",
    "MIN_INTERVAL",
    "Channel",
    "Check",
    "CheckSpec",
    "Config",
    "ConfigError",
    "Connectivity",
    "Defaults",
    "Flapping",
    "MaintenanceWindow",
    "Probing",
    "Problem",
    "Retention",
    "load_config",
    "parse_config",
    "parse_listen",
]
