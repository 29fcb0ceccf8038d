"""The extension points in one object: probe kinds, notifier kinds and actuator kinds.

Config loading validates each `kind:` against these registries and create_app builds from the same ones, so
what `check-config` accepts is exactly what runs. A new kind is one file and one line in its registry
(probes/__init__.py, alerts/__init__.py, monitor/failover/actuators/__init__.py); tests pass their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.base import NotifierKind
    from monitor.failover.actions import ActuatorKind
    from probes.base import ProbeKind


def _probes() -> Mapping[str, ProbeKind]:
    from probes import PROBES

    return PROBES


def _notifiers() -> Mapping[str, NotifierKind]:
    from alerts import NOTIFIERS  # alerts' config imports monitor.config: imported when first needed

    return NOTIFIERS


def _actuators() -> Mapping[str, ActuatorKind]:
    from monitor.failover.actuators import ACTUATORS

    return ACTUATORS


@dataclass(frozen=True, slots=True)
class Registries:
    """Every kind the service knows; each field defaults to the built-in registry."""

    probes: Mapping[str, ProbeKind] = field(default_factory=_probes)
    notifiers: Mapping[str, NotifierKind] = field(default_factory=_notifiers)
    actuators: Mapping[str, ActuatorKind] = field(default_factory=_actuators)
